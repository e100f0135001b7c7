"""Replicated systems in a local deployment, each with the mechanism the stack deploys.

`multidc local up` runs, per replicated system, two real servers and connects them with the
same ``ReplicationLinkProvider.create`` that `pulumi up` runs on the deployed endpoints:

- PostgreSQL on Trove (every ``kind: postgres`` system the components declare): two
  independent servers and logical replication (``logical``); with ``--postgres-mechanism
  physical-streaming`` (a self-managed deployment of the same stack on VMs) the streaming pair
  of ``multidc.local.deployment`` instead;
- Redis: two ``redis-server`` processes and ``REPLICAOF`` (``replicaof``, asynchronous only);
- MySQL/MariaDB: two ``mariadbd`` processes and GTID replication (``gtid``, semi-synchronous for
  ``sync``), with the database and login the component declares on Trove (an application login
  with its database only, subject to ``read_only``); the administrative login the failover steps
  use is named in the placement's ``local`` entry.

Records of the servers started here go in the deployment's state (``postgres`` for PostgreSQL,
``engines`` for the others) so that ``local kill``, ``local start`` and ``local down`` reach them.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from multidc.components.common import REPLICATION_MECHANISMS
from multidc.contract import GTID, LOGICAL, REPLICAOF, STREAMING
from multidc.local.mariadb import LocalMariaDB
from multidc.local.postgres import LocalPostgres
from multidc.local.redis import LocalRedis
from multidc.providers.replication_link import ReplicationLinkArgs, ReplicationLinkProvider
from multidc.spec import Kind, System, Topology

POSTGRES_MECHANISMS = (LOGICAL, STREAMING)
LOGICAL_SETTINGS = {"wal_level": "logical"}


def replicated_sites(system: System) -> list[str]:
    """The sites a local deployment runs the system in: primary first, a standby only in the second."""
    return list(system.sites[:2]) if system.topology is Topology.active_passive else [system.sites[0]]


def mechanism_of(system: System, postgres_mechanism: Optional[str] = None) -> Optional[str]:
    """The mechanism the stack deploys for `system` (PostgreSQL: `postgres_mechanism` if given)."""
    if system.kind is Kind.postgres and postgres_mechanism:
        return postgres_mechanism
    return REPLICATION_MECHANISMS.get(system.kind)


def _link(system: str, sites: list[str], mechanism: str, mode: str, primary: Any, standby: Any,
          database: Optional[str] = None,
          network_path: str = "the loopback interface (a local deployment)") -> dict[str, Any]:
    """The replication link, set up by the provider `pulumi up` runs; returns its outputs (health)."""
    args = ReplicationLinkArgs(
        system=system, primary_site=sites[0], standby_site=sites[1], mechanism=mechanism, mode=mode,
        primary={"host": primary.host, "port": primary.port, "user": getattr(primary, "user", None),
                 "database": database},
        standby={"host": standby.host, "port": standby.port, "user": getattr(standby, "user", None),
                 "database": database},
        primary_password=primary.password, standby_password=standby.password,
        network_path=network_path, timeout_s=120)
    return ReplicationLinkProvider().create(args.to_props()).outs


def start_logical_postgres(stack: str, system: str, sites: list[str], mode: str,
                           placed: Optional[Callable[[str], dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """Two independent servers (both `wal_level=logical`, so either can publish after a failover)
    and a logical replication link on database `postgres`; records for the deployment's state.

    `placed(site)` gives the servers of a site their address and the command prefix that starts
    them inside the site's network namespace (multidc.local.isolated); by default, 127.0.0.1.
    """
    records: list[dict[str, Any]] = []
    password = None
    servers: list[LocalPostgres] = []
    try:
        for site in sites:
            server = LocalPostgres(f"{stack}-{site}-{system}", settings=LOGICAL_SETTINGS, password=password,
                                   **(placed(site) if placed else {})).detach()
            servers.append(server)
            server.start()
            # Persisted in postgresql.auto.conf: restarts (local start, re-protect) keep it.
            with server.connect() as conn:
                conn.execute("ALTER SYSTEM SET wal_level = 'logical'")
            password = server.password  # one login for both, as the application's connection string has
            records.append({"system": system, "site": site, "base_dir": str(server.data_dir.parent),
                            "port": server.port, "password": server.password, "mechanism": LOGICAL})
        if len(servers) == 2:
            _link(system, sites, LOGICAL, mode, servers[0], servers[1], database="postgres",
                  **({"network_path": "the link between the sites' network namespaces"} if placed else {}))
    except BaseException:
        for started in servers:  # not in the deployment's state yet: `local down` would not find them
            started.close()
        raise
    return records


def start_redis(stack: str, system: str, sites: list[str],
                placed: Optional[Callable[[str], dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """Two redis-server processes, the second a replica of the first (REPLICAOF); `placed(site)` as for
    `start_logical_postgres` (its `clients` do not apply: Redis checks only the password)."""
    records: list[dict[str, Any]] = []
    servers: list[LocalRedis] = []
    password = None
    try:
        for site in sites:
            where = {k: v for k, v in (placed(site) if placed else {}).items() if k in ("host", "launcher")}
            server = LocalRedis(f"{stack}-{site}-{system}", password=password, **where)
            servers.append(server)
            server.start()
            password = server.password
            records.append({"system": system, "site": site, "engine": "redis", "base_dir": str(server.base_dir),
                            "port": server.port, "password": server.password, "mechanism": REPLICAOF})
        if len(servers) == 2:
            _link(system, sites, REPLICAOF, "async", servers[0], servers[1],
                  **({"network_path": "the link between the sites' network namespaces"} if placed else {}))
    except BaseException:
        for started in servers:
            started.close()
        raise
    return records


def start_mariadb(stack: str, system: str, sites: list[str], mode: str, database: str,
                  user: str) -> list[dict[str, Any]]:
    """Two mariadbd processes with `database` and its login `user`, the second a GTID replica of the first."""
    password = secrets.token_urlsafe(16)  # one password for both logins of both servers, as for Redis
    servers = [LocalMariaDB(f"{stack}-{site}-{system}", password=password) for site in sites]
    records: list[dict[str, Any]] = []
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # initialising a data directory takes seconds
            list(pool.map(LocalMariaDB.start, servers))
        for site, server in zip(sites, servers):
            server.add_application_login(database, user, password)
            records.append({"system": system, "site": site, "engine": "mysql", "base_dir": str(server.base_dir),
                            "port": server.port, "password": password, "mechanism": GTID, "database": database,
                            "user": user, "admin_user": server.user})
        if len(servers) == 2:
            _link(system, sites, GTID, mode, servers[0], servers[1], database=database)
    except BaseException:
        for started in servers:
            started.close()
        raise
    return records


def server_of(record: dict[str, Any]) -> Any:
    """The server of an `engines` record (another process started it)."""
    if record["engine"] == "mysql":
        return LocalMariaDB(f"{record['site']}-{record['system']}", port=record["port"], password=record["password"],
                            base_dir=Path(record["base_dir"]))
    return LocalRedis(f"{record['site']}-{record['system']}", port=record["port"], password=record["password"],
                      base_dir=Path(record["base_dir"]), host=record.get("host", "127.0.0.1"),
                      launcher=["ip", "netns", "exec", record["netns"]] if record.get("netns") else ())


def database_entry(record: dict[str, Any]) -> dict[str, Any]:
    """The `database` of a placement in the outputs document, for an `engines` record: the keys the
    component exports for the engine (multidc.components.outputs), and where the local server lives."""
    local = {"base_dir": record["base_dir"]}
    if record.get("admin_user"):
        local["admin_user"] = record["admin_user"]
    if record.get("netns"):
        local["netns"] = record["netns"]
    return {"engine": record["engine"], "host": record.get("host", "127.0.0.1"), "port": record["port"],
            "database": record.get("database"), "user": record.get("user"), "password": record["password"],
            "local": local}
