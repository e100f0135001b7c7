"""Redis replication links: ``REPLICAOF`` (asynchronous only; ``multidc.protection.redis``).

Trove's Redis has no users: ``primary_password``/``standby_password`` are the instances' root
passwords (Pulumi secrets). ``options.primary_host``/``primary_port`` say how the replica's server
reaches the primary over the sites' network when that differs from how `pulumi up` reaches it.
"""

from __future__ import annotations

from typing import Any

from multidc.protection import redis as rr
from multidc.protection.link_health import LinkHealth
from multidc.providers.replication_link import Endpoint, Link


def client(end: Endpoint) -> Any:
    import redis

    return redis.Redis(host=end.host, port=end.port, password=end.password, socket_timeout=10,
                       socket_connect_timeout=5)


class RedisLink:
    """The standby's server follows the primary with REPLICAOF; delete makes it a primary again."""

    def _target(self, link: Link) -> tuple[str, int]:
        return (link.options.get("primary_host") or link.primary.host,
                int(link.options.get("primary_port") or link.primary.port))

    def create(self, link: Link) -> LinkHealth:
        host, port = self._target(link)
        return rr.create_link(client(link.primary), client(link.standby), primary_host=host, primary_port=port,
                              primary_password=link.primary.password, timeout=link.timeout_s)

    def read(self, link: Link) -> LinkHealth:
        host, port = self._target(link)
        return rr.link_health(client(link.primary), client(link.standby), primary_host=host, primary_port=port)

    def set_mode(self, link: Link) -> None:
        """Nothing to change: Redis has no synchronous mode (the provider's check refuses ``sync``)."""

    def delete(self, link: Link) -> None:
        rr.promote(client(link.standby))


def driver(mechanism: str) -> RedisLink:
    return RedisLink()
