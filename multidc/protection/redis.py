"""Redis replication between sites: REPLICAOF, its health, promotion, and WAIT.

Redis replicates asynchronously only: a write is acknowledged by the primary before any
replica has it, so losing the primary site loses the writes of the last moments (the lag at
the kill, in bytes of the replication stream: ``master_repl_offset`` minus the replica's
offset). ``WAIT <replicas> <ms>`` after a write makes the client wait until replicas have it;
it is a per-write choice of the application, not a mode of the server (docs/replication.md).

Every function takes redis-py clients (``redis.Redis``), each bounded by its socket timeout.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from multidc.protection.link_health import DISCONNECTED, PROMOTED, REPLICATING, LinkHealth


class RedisReplicationError(RuntimeError):
    """A Redis replication step failed; the message names the server and the fix."""


def _where(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def create_link(primary: Any, replica: Any, *, primary_host: str, primary_port: int,
                primary_password: Optional[str], timeout: float = 120.0) -> LinkHealth:
    """Make ``replica`` a replica of the primary (reached by the replica at host:port) and wait
    until the full sync is done and it has every byte the primary had when called.

    Idempotent: a replica already following that primary is left as it is. What the replica
    held before is replaced by the primary's data set (that is what a full sync does).
    """
    follow(replica, primary_host=primary_host, primary_port=primary_port, primary_password=primary_password)
    wait_caught_up(primary, replica, timeout=timeout)
    return link_health(primary, replica, primary_host=primary_host, primary_port=primary_port)


def follow(replica: Any, *, primary_host: str, primary_port: int, primary_password: Optional[str]) -> None:
    """``REPLICAOF`` (with ``masterauth``) unless the replica already follows that primary. From this
    command on the replica refuses client writes (``replica-read-only``). Idempotent."""
    info = replica.info("replication")
    if not (info.get("role") == "slave" and info.get("master_host") == primary_host
            and int(info.get("master_port", 0)) == int(primary_port)):
        if primary_password:
            replica.config_set("masterauth", primary_password)
        replica.replicaof(primary_host, primary_port)


def wait_caught_up(primary: Any, replica: Any, *, timeout: float = 60.0) -> None:
    """Wait until the replica's link is up and its offset reaches the primary's offset when called."""
    target = int(primary.info("replication").get("master_repl_offset", 0))
    deadline = time.monotonic() + timeout
    while True:
        info = replica.info("replication")
        if (info.get("master_link_status") == "up" and not int(info.get("master_sync_in_progress", 0))
                and int(info.get("slave_repl_offset", -1)) >= target):
            return
        if time.monotonic() > deadline:
            raise RedisReplicationError(
                f"timed out after {timeout:.0f}s waiting for the replica {_where(replica)} to catch up with "
                f"{_where(primary)} (link {info.get('master_link_status')}, offset "
                f"{info.get('slave_repl_offset')} of {target}); check the replica's log and that it reaches the "
                "primary")
        time.sleep(0.1)


def link_health(primary: Optional[Any], replica: Any, *, primary_host: str, primary_port: int) -> LinkHealth:
    """State from the replica's INFO replication; lag in bytes against the primary's offset (if given)."""
    info = replica.info("replication")
    if info.get("role") != "slave":
        return LinkHealth(PROMOTED, mode="async", last_error=f"{_where(replica)} is a primary (role master)")
    if info.get("master_host") != primary_host or int(info.get("master_port", 0)) != int(primary_port):
        return LinkHealth(DISCONNECTED, mode="async",
                          last_error=f"{_where(replica)} follows {info.get('master_host')}:{info.get('master_port')}")
    if info.get("master_link_status") != "up":
        return LinkHealth(DISCONNECTED, mode="async", last_error=f"link {info.get('master_link_status')}, "
                          f"down for {info.get('master_link_down_since_seconds')}s")
    lag_bytes = None
    if primary is not None:
        lag_bytes = max(0, int(primary.info("replication").get("master_repl_offset", 0))
                        - int(info.get("slave_repl_offset", 0)))
    seconds = info.get("master_last_io_seconds_ago")
    return LinkHealth(REPLICATING, lag_bytes, None if seconds is None else float(seconds), None, "async")


def promote(replica: Any) -> None:
    """``REPLICAOF NO ONE``: the replica keeps its data and takes writes. Idempotent."""
    replica.replicaof("NO", "ONE")


def wait_acknowledged(primary: Any, replicas: int = 1, timeout_ms: int = 1000) -> int:
    """``WAIT``: block until ``replicas`` replicas have this connection's writes; returns how many did."""
    return int(primary.execute_command("WAIT", replicas, timeout_ms))
