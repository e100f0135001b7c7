"""PostgreSQL replication links: logical (managed endpoints) and physical streaming (self-managed).

Logical needs SQL access to both ends only (``multidc.protection.logical``). Streaming needs the
standby's data directory, so its driver runs on the database host (or with its file system
mounted): ``options.primary_base_dir`` and ``options.standby_base_dir`` name the servers'
directories there, as ``multidc.local.postgres.LocalPostgres`` lays them out.
"""

from __future__ import annotations

from pathlib import Path

from multidc.contract import LOGICAL, STREAMING
from multidc.protection import logical
from multidc.protection import postgres as pg
from multidc.protection.link_health import DISCONNECTED, PROMOTED, REPLICATING, LinkHealth
from multidc.providers.replication_link import Endpoint, Link, LinkError


def endpoint(end: Endpoint, link: Link) -> pg.PgEndpoint:
    return pg.PgEndpoint(host=end.host, port=end.port, user=end.user or "postgres", password=end.password,
                         dbname=end.database or link.primary.database or "postgres")


class LogicalLink:
    """Publication on the primary, subscription on the standby; ``sync`` names the subscription
    in the primary's ``synchronous_standby_names``."""

    def _parts(self, link: Link) -> tuple[pg.PgEndpoint, pg.PgEndpoint, str, str, str]:
        publication, subscription = logical.names(link.system, link.standby_site)
        dbname = link.primary.database or "postgres"
        return endpoint(link.primary, link), endpoint(link.standby, link), dbname, publication, subscription

    def _publisher_conninfo(self, link: Link, publisher: pg.PgEndpoint, dbname: str) -> str:
        # How the standby's server reaches the primary: over the sites' network, which may
        # differ from how `pulumi up` reaches it (options.publisher_host / publisher_port).
        host = link.options.get("publisher_host") or publisher.host
        port = link.options.get("publisher_port") or publisher.port
        return pg.conninfo(publisher, host=host, port=port, dbname=dbname, connect_timeout=None)

    def create(self, link: Link) -> LinkHealth:
        publisher, subscriber, dbname, publication, subscription = self._parts(link)
        return logical.create_link(publisher, subscriber, dbname=dbname, publication=publication,
                                   subscription=subscription, mode=link.mode,  # type: ignore[arg-type]
                                   publisher_conninfo=self._publisher_conninfo(link, publisher, dbname),
                                   timeout=link.timeout_s)

    def read(self, link: Link) -> LinkHealth:
        publisher, subscriber, dbname, _, subscription = self._parts(link)
        return logical.link_health(publisher, subscriber, dbname=dbname, subscription=subscription)

    def set_mode(self, link: Link) -> None:
        publisher, subscriber, dbname, _, subscription = self._parts(link)
        logical.set_mode(publisher, subscription, link.mode, subscriber=subscriber, dbname=dbname,  # type: ignore[arg-type]
                         timeout=link.timeout_s)

    def delete(self, link: Link) -> None:
        publisher, subscriber, dbname, publication, subscription = self._parts(link)
        logical.drop_link(publisher, subscriber, dbname=dbname, publication=publication,
                          subscription=subscription, timeout=link.timeout_s)


class StreamingLink:
    """A physical standby cloned with ``pg_basebackup`` through a slot named after its site."""

    def _servers(self, link: Link):  # type: ignore[no-untyped-def]
        from multidc.local.postgres import LocalPostgres

        for key in ("primary_base_dir", "standby_base_dir"):
            if not link.options.get(key):
                raise LinkError(f"system {link.system}: physical streaming needs options.{key}, the server's "
                                "directory on the host where the provider runs (it writes the standby's data "
                                "directory); use mechanism logical for an endpoint with SQL access only")
        password = link.primary.password or ""
        primary = LocalPostgres.attach(f"{link.primary_site}-{link.system}", Path(link.options["primary_base_dir"]),
                                       port=link.primary.port, password=password)
        standby = LocalPostgres(f"{link.standby_site}-{link.system}", initialize=False, password=password,
                                port=link.standby.port, base_dir=Path(link.options["standby_base_dir"])).detach()
        return primary, standby

    def _auth(self, link: Link) -> pg.ReplicationAuth:
        return pg.ReplicationAuth(password=link.standby.password or link.primary.password or "")

    def create(self, link: Link) -> LinkHealth:
        primary, standby = self._servers(link)
        name = pg.slot_name(link.standby_site)
        auth = self._auth(link)
        pg.configure_primary(primary, auth, [name], timeout=link.timeout_s)
        if (standby.data_dir / "PG_VERSION").exists() and not (standby.data_dir / "standby.signal").exists():
            pg.rewind_as_standby(standby, primary, auth, name=name, timeout=link.timeout_s)  # it was promoted
        else:
            pg.create_standby(primary, standby, auth, name=name, timeout=link.timeout_s)
        self.set_mode(link)
        pg.wait_for_replay(primary, standby, timeout=link.timeout_s)
        return self.read(link)

    def read(self, link: Link) -> LinkHealth:
        primary, standby = endpoint(link.primary, link), endpoint(link.standby, link)
        name = pg.slot_name(link.standby_site)
        names = pg._scalar(primary, "SHOW synchronous_standby_names") or ""
        mode = "sync" if f'"{name}"' in names or name in names.split(",") else "async"
        if not pg.is_in_recovery(standby):
            return LinkHealth(PROMOTED, mode=mode, last_error=f"{pg.address(standby)} takes writes of its own")
        status = [s for s in pg.replication_status(primary) if s.application_name == name and s.state == "streaming"]
        if not status:
            return LinkHealth(DISCONNECTED, mode=mode)
        lag_seconds = status[0].replay_lag_s
        if lag_seconds is None and status[0].lag_bytes == 0:
            lag_seconds = 0.0
        return LinkHealth(REPLICATING, status[0].lag_bytes, lag_seconds, None, mode)

    def set_mode(self, link: Link) -> None:
        pg.set_replication_mode(endpoint(link.primary, link), link.mode,  # type: ignore[arg-type]
                                standby_names=[pg.slot_name(link.standby_site)], timeout=link.timeout_s)

    def delete(self, link: Link) -> None:
        """The primary stops waiting for the standby, the standby is promoted (an independent copy
        with every row it had), the slot goes. Idempotent."""
        primary, standby = endpoint(link.primary, link), endpoint(link.standby, link)
        pg.set_replication_mode(primary, "async", timeout=link.timeout_s)
        pg.promote(standby, timeout=link.timeout_s)
        slot = pg.slot_name(link.standby_site)
        pg._wait(lambda: not pg._scalar(primary, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s "
                                                 "AND active", [slot]),
                 timeout=link.timeout_s, what=f"slot {slot} on {pg.address(primary)} to be released")
        pg._scalar(primary, "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots "
                            "WHERE slot_name = %s", [slot])


def driver(mechanism: str) -> LogicalLink | StreamingLink:
    return LogicalLink() if mechanism == LOGICAL else StreamingLink() if mechanism == STREAMING else _unknown(mechanism)


def _unknown(mechanism: str):  # type: ignore[no-untyped-def]
    raise LinkError(f"{mechanism!r} is not a PostgreSQL mechanism; use {LOGICAL} or {STREAMING}")
