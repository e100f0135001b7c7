"""MariaDB/MySQL replication links: GTID-based, semi-synchronous for ``sync`` (``multidc.protection.mariadb``).

The replication login on the primary is ``options.repl_user`` (default ``multidc_repl``) with the
standby's password (a Pulumi secret). ``options.primary_host``/``primary_port`` say how the
replica's server reaches the primary over the sites' network when that differs from how
`pulumi up` reaches it.
"""

from __future__ import annotations

from multidc.protection import mariadb as my
from multidc.protection.link_health import LinkHealth
from multidc.providers.replication_link import Endpoint, Link


def server(end: Endpoint) -> my.Server:
    return my.Server(end.host, end.port, end.user or "root", end.password)


class GtidLink:
    """CHANGE MASTER ... MASTER_USE_GTID=slave_pos on the standby after an initial dump."""

    def _target(self, link: Link) -> tuple[str, int]:
        return (link.options.get("primary_host") or link.primary.host,
                int(link.options.get("primary_port") or link.primary.port))

    def create(self, link: Link) -> LinkHealth:
        host, port = self._target(link)
        return my.create_link(server(link.primary), server(link.standby), primary_host=host, primary_port=port,
                              repl_user=link.options.get("repl_user") or "multidc_repl",
                              repl_password=link.standby.password or link.primary.password or "",
                              mode=link.mode, timeout=link.timeout_s)

    def read(self, link: Link) -> LinkHealth:
        host, port = self._target(link)
        return my.link_health(server(link.primary), server(link.standby), primary_host=host, primary_port=port)

    def set_mode(self, link: Link) -> None:
        my.set_mode(server(link.primary), server(link.standby), link.mode)

    def delete(self, link: Link) -> None:
        my.drop_link(server(link.primary), server(link.standby))


def driver(mechanism: str) -> GtidLink:
    return GtidLink()
