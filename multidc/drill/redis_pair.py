"""A Redis system in the site-loss drill: a writer through both endpoints, and what it measures.

Redis replicates asynchronously (REPLICAOF), so the drill reports, besides RTO from the kill, the
acknowledged writes the new primary lacks and the replication lag at the moment of the kill
(``master_repl_offset`` of the primary minus the replica's offset, in bytes).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from multidc.contract import REPLICAOF
from multidc.dr.engines.redis import RedisServer, servers
from multidc.ops.outputs import StackOutputs

from .report import SystemResult

PREFIX = "drill:"


class RedisWriter:
    """SETs one key after another on whichever endpoint takes writes, remembering every acknowledged one.

    As a Sentinel-less client would: on an error (a replica answers READONLY, a paused primary
    times out, a dead one refuses) it tries the other endpoint.
    """

    def __init__(self, endpoints: list[RedisServer]) -> None:
        self.endpoints = endpoints
        self.acks: list[tuple[int, float, int, float]] = []  # key number, acknowledged at, port, begun at
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        clients = [e.client(timeout=1.0) for e in self.endpoints]
        current, n = 0, 1
        while not self.stop.is_set():
            begun = time.monotonic()
            try:
                clients[current].set(f"{PREFIX}{n}", n)
                self.acks.append((n, time.monotonic(), self.endpoints[current].port, begun))
            except Exception:  # noqa: BLE001 - any failure: this endpoint does not take writes now
                current = 1 - current
                time.sleep(0.01)
            n += 1  # an attempt that failed may still have been applied: never reuse its key

    def first_ack_after(self, moment: float, port: int) -> Optional[float]:
        return next((t for _, t, p, _ in self.acks if t > moment and p == port), None)

    def acked(self, port: Optional[int] = None) -> set[int]:
        return {n for n, _, p, _ in self.acks if port in (None, p)}

    def halt(self) -> None:
        self.stop.set()
        self._thread.join(timeout=5)


def _keys(server: RedisServer) -> set[int]:
    return {int(key.decode()[len(PREFIX):]) for key in server.client().scan_iter(f"{PREFIX}*", count=1000)}


@dataclass
class RedisPair:
    """One Redis system's two servers (by site) in the drill, its writer and its result."""

    system: str
    primary_site: str
    standby_site: str
    servers: dict[str, RedisServer]
    writer: Optional[RedisWriter] = None
    lag_at_kill: Optional[int] = None
    result: Optional[SystemResult] = None
    lost: set[int] = field(default_factory=set)

    @property
    def primary(self) -> RedisServer:
        return self.servers[self.primary_site]

    @property
    def standby(self) -> RedisServer:
        return self.servers[self.standby_site]

    def start(self) -> None:
        self.writer = RedisWriter([self.primary, self.standby])
        self.writer.start()

    def sample_lag(self) -> None:
        """The replica's lag behind the primary, in bytes of the replication stream, just before the kill."""
        try:
            primary = int(self.primary.client().info("replication")["master_repl_offset"])
            replica = int(self.standby.client().info("replication").get("slave_repl_offset", 0))
            self.lag_at_kill = max(0, primary - replica)
        except Exception:  # noqa: BLE001 - a missing sample is reported as such (None)
            self.lag_at_kill = None

    def after_failover(self, from_site: str, kill_at: float, command_at: float, wait_s: float = 30.0) -> SystemResult:
        """RTO from the kill to the first write the surviving server acknowledged; acknowledged writes lost."""
        assert self.writer is not None
        failed_over = self.primary_site == from_site
        serving = self.standby if failed_over else self.primary
        outcome = SystemResult(self.system, "async", self.primary_site, self.standby_site, REPLICAOF, failed_over)
        outcome.lag_at_kill_bytes = self.lag_at_kill
        deadline = time.monotonic() + wait_s
        while self.writer.first_ack_after(kill_at, serving.port) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first = self.writer.first_ack_after(kill_at, serving.port)
        outcome.writes_continued = first is not None
        if first is not None:
            outcome.rto_from_kill_s = first - kill_at
            outcome.rto_from_command_s = first - command_at if failed_over else None
        acked = self.writer.acked(self.primary.port)
        self.lost = acked - _keys(serving)
        outcome.acknowledged = len(acked)
        outcome.missing_after_failover = len(self.lost)
        self.result = outcome
        return outcome

    def old_primary_refuses_writes(self) -> tuple[bool, str]:
        try:
            self.primary.client().set(f"{PREFIX}-1", -1)
        except Exception as error:  # noqa: BLE001 - the refusal is the evidence
            return True, str(error).splitlines()[0]
        return False, "a SET succeeded on the restarted old primary"

    def after_failback(self, back_at: float, wait_s: float = 30.0) -> None:
        """Writes resume on the server that is primary now; every write acknowledged before is there."""
        assert self.writer is not None and self.result is not None
        serving_site = next((site for site, server in self.servers.items()
                             if server.client().info("replication")["role"] == "master"), None)
        if serving_site is None:
            return
        serving = self.servers[serving_site]
        deadline = time.monotonic() + wait_s
        while self.writer.first_ack_after(back_at, serving.port) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        self.writer.halt()
        self.result.primary_after_failback = serving_site
        self.result.acknowledged_total = len(self.writer.acked())
        # Async: what the old primary acknowledged and never sent is gone for good (counted at failover);
        # everything else must be on the primary after failback.
        self.result.missing_after_failback = len(self.writer.acked() - self.lost - _keys(serving))
        self.result.failback_done = True


def redis_pairs(document: StackOutputs, sites: set[str]) -> list[RedisPair]:
    """Every Redis system of the document replicated between `sites`, primary site first."""
    found = servers(document)
    pairs = []
    for name, system in document.systems.items():
        placed = {site for (n, site) in found if n == name}
        if system.kind != "redis" or placed != sites:
            continue
        standby = next(site for site in placed if site != system.primary_site)
        pairs.append(RedisPair(name, system.primary_site, standby, {site: found[(name, site)] for site in placed}))
    return pairs


def stop_all(pairs: list[RedisPair]) -> Any:
    """A stopper for the drill's cleanup."""
    def stop() -> None:
        for pair in pairs:
            if pair.writer is not None:
                pair.writer.halt()
    return stop
