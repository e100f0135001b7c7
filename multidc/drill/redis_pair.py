"""A Redis system in the site-loss drill: a writer through both endpoints, and what it measures.

Redis replicates asynchronously (REPLICAOF), so the drill reports, besides RTO from the kill, the
acknowledged writes the new primary lacks and the replication lag at the moment of the kill
(``master_repl_offset`` of the primary minus the replica's offset, in bytes).
"""

from __future__ import annotations

from typing import Optional

from multidc.contract import REPLICAOF
from multidc.dr.engines.redis import RedisServer, servers
from multidc.ops.outputs import StackOutputs

from .pairs import AckWriter, WriterPair, stop_all

__all__ = ["RedisPair", "redis_pairs", "stop_all"]

PREFIX = "drill:"


class RedisPair(WriterPair):
    """One Redis system: SETs one key after another (a replica answers READONLY, a paused primary times out,
    a dead one refuses: the writer tries the other endpoint)."""

    mechanism = REPLICAOF

    def start(self) -> None:
        clients = [server.client(timeout=1.0) for server in (self.primary, self.standby)]
        self.writer = AckWriter([self.primary.port, self.standby.port],
                                lambda current, n: clients[current].set(f"{PREFIX}{n}", n))
        self.writer.start()

    def ids(self, server: RedisServer) -> set[int]:
        return {int(key.decode()[len(PREFIX):]) for key in server.client().scan_iter(f"{PREFIX}*", count=1000)}

    def sample_lag(self) -> None:
        """The replica's lag behind the primary, in bytes of the replication stream, just before the kill."""
        try:
            primary = int(self.primary.client().info("replication")["master_repl_offset"])
            replica = int(self.standby.client().info("replication").get("slave_repl_offset", 0))
            self.lag_at_kill = max(0, primary - replica)
        except Exception:  # noqa: BLE001 - a missing sample is reported as such (None)
            self.lag_at_kill = None

    def old_primary_refuses_writes(self) -> tuple[bool, str]:
        try:
            self.primary.client().set(f"{PREFIX}-1", -1)
        except Exception as error:  # noqa: BLE001 - the refusal is the evidence
            return True, str(error).splitlines()[0]
        return False, "a SET succeeded on the restarted old primary"

    def serving_site(self, back_at: float, wait_s: float) -> Optional[str]:
        return next((site for site, server in self.servers.items()
                     if server.client().info("replication")["role"] == "master"), None)


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
