"""The `db.*` steps for Redis replicated with REPLICAOF (asynchronous: no relax, no zero-loss).

- fence: a reachable old primary stops taking writes (``CLIENT PAUSE ... WRITE``); an unreachable
  one the toolkit runs (a local stand-in) gets ``replicaof <the site taking over>`` in its
  configuration, so when its site comes back it starts as a replica and refuses writes;
- promote: ``REPLICAOF NO ONE``, then a probe write must succeed;
- relax: nothing to do (Redis never waits for a replica);
- wait_replay: the replica's offset reached the primary's;
- reprotect: the old primary follows the new one (``REPLICAOF``; a full resync replaces its
  data set, so writes it took after the fork are dropped) and its pause is lifted.

Atomic: each verb is one or two commands. Idempotent: every verb. Timeout: `timeout` seconds
(socket timeouts of the clients; the full resync of re-protect is bounded separately).
"""

from __future__ import annotations

import socket

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from multidc.dr.backends import BackendError
from multidc.dr.engines.dispatch import EngineBackend
from multidc.dr.runbook import Step
from multidc.protection import redis as rr

PAUSE_MS = 24 * 3600 * 1000  # until re-protect or unfence lifts it
RESYNC_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RedisServer:
    """One Redis endpoint from the outputs; ``base_dir`` only for a server the toolkit runs."""

    host: str
    port: int
    password: Optional[str] = field(default=None, repr=False)
    base_dir: Optional[str] = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, timeout: float = 5.0) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=timeout,
                           socket_connect_timeout=min(timeout, 3.0))


def _reachable(server: RedisServer) -> bool:
    # A plain TCP connect first: redis-py retries a refused connection with back-off (seconds on a
    # dead site, on the failover's critical path); a port that refuses is unreachable at once.
    try:
        socket.create_connection((server.host, server.port), timeout=2).close()
    except OSError:
        return False
    try:
        return bool(server.client(timeout=2).ping())
    except Exception:  # noqa: BLE001 - any failure means: not reachable now
        return False


@dataclass
class RedisDatabaseBackend(EngineBackend):
    """`db.*` steps of Redis systems on the servers it is given (``RedisServer``); others go to `fallback`."""

    def _fence(self, step: Step, server: RedisServer) -> str:
        if _reachable(server):
            server.client().execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
            return f"{server.address} refuses writes (CLIENT PAUSE WRITE)"
        peer = self._peer(step)
        if server.base_dir is None or peer is None:
            return f"{server.address} unreachable; fencing left to the provider's isolation of the site"
        # Split brain: the killed primary would restart from its append-only file as a primary, and
        # clients that try it first would write there while the promoted replica takes writes too.
        # Told to follow the site taking over, it restarts as a replica and refuses writes.
        conf = Path(server.base_dir) / "redis.conf"
        line = f"replicaof {peer.host} {peer.port}"
        if line not in conf.read_text().splitlines():
            with conf.open("a") as out:
                out.write(line + "\n")
        return f"{server.address} unreachable; it will start as a replica of {peer.address} and refuse writes"

    def _unfence(self, step: Step, server: RedisServer) -> str:
        server.client().execute_command("CLIENT", "UNPAUSE")
        return f"{server.address} takes writes again"

    def _promote(self, step: Step, server: RedisServer) -> str:
        client = server.client(self.timeout)
        rr.promote(client)
        if server.base_dir is not None:
            conf = Path(server.base_dir) / "redis.conf"
            kept = [line for line in conf.read_text().splitlines() if not line.startswith("replicaof ")]
            conf.write_text("\n".join(kept) + "\n")
        client.execute_command("CLIENT", "UNPAUSE")
        try:
            client.set("multidc:probe", "1")
        except Exception as error:  # noqa: BLE001 - the message names the server
            raise BackendError(f"{step.system}@{step.site}: {server.address} was promoted but a probe write "
                               f"failed: {error}") from None
        return f"{server.address} is a primary (REPLICAOF NO ONE) and takes writes"

    def _relax(self, step: Step, server: RedisServer) -> str:
        return f"{server.address}: nothing to relax, Redis replication is asynchronous"

    def _wait_replay(self, step: Step, server: RedisServer) -> str:
        primary = self._peer(step)
        if primary is None:
            raise BackendError(f"{step.system}: no primary to wait for")
        rr.wait_caught_up(primary.client(self.timeout), server.client(self.timeout), timeout=self.timeout)
        return f"{server.address} has every byte of {primary.address}'s replication stream"

    def _reprotect(self, step: Step, server: RedisServer) -> str:
        primary = self._peer(step)
        if primary is None:
            raise BackendError(f"{step.system}: no new primary to follow")
        client = server.client(self.timeout)
        rr.follow(client, primary_host=primary.host, primary_port=primary.port, primary_password=primary.password)
        # A replica now (it refuses client writes): the fence's pause goes, or it would hold back the
        # replication stream too, which reaches a paused server as writes.
        client.execute_command("CLIENT", "UNPAUSE")
        rr.wait_caught_up(primary.client(self.timeout), client, timeout=RESYNC_TIMEOUT_S)
        return f"{server.address} follows {primary.address} again (REPLICAOF, full resync)"


def servers(outputs: Any) -> dict[tuple[str, str], RedisServer]:
    """Every Redis placement of the outputs document with an endpoint."""
    found = {}
    for name, system in outputs.systems.items():
        for site, placement in system.placements.items():
            database = placement.database
            if system.kind == "redis" and database is not None:
                found[(name, site)] = RedisServer(
                    database.host, database.port,
                    database.password.get_secret_value() if database.password else None,
                    database.local.base_dir if database.local else None)
    return found
