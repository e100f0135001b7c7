"""A managed database (OpenStack Trove) of one system in one site, and its replication link.

What Pulumi realises here is the instance, its database and its login, and for a standby its
replication from the primary: Trove cannot build a replica across regions, so a
``ReplicationLink`` (``multidc.providers.replication_link``) is declared once both ends exist and
sets up the engine's own mechanism at `pulumi up` (``REPLICATION_MECHANISMS``: logical
replication for PostgreSQL on Trove, GTID for MySQL, REPLICAOF for Redis). An engine with no
cross-site mechanism here (ClickHouse) gets no link: its standby is restored from backups. What the
mechanism (or PCI DSS) needs and the instance's login cannot set by SQL goes into one Trove
configuration group per placement (``server_parameters``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random

from multidc import spec
from multidc.components.common import (REPLICATION_MECHANISMS, WARM_STANDBY, placement_props, placement_role,
                                       warm_standby_count)
from multidc.components.site import Site
from multidc.contract import (DATABASE, LINK_MECHANISMS, LOGICAL, PRIMARY, STANDBY, SYNCHRONOUS_STANDBY_NAMES, WAL_LEVEL,
                              subscription_name, synchronous_standby_names)
from multidc.providers.replication_link import ReplicationLink, ReplicationLinkArgs


@dataclass(frozen=True)
class Engine:
    """How Trove names an engine, its default version, port, and whether it takes users."""

    datastore: str
    default_version: str
    port: int
    has_users: bool


ENGINES = {
    spec.Kind.postgres: Engine("postgresql", "16", 5432, True),
    spec.Kind.mysql: Engine("mysql", "8.0", 3306, True),
    # Trove's Redis has no users or databases: access is the password it requires (`requirepass`),
    # which the component generates and sets through a configuration group.
    spec.Kind.redis: Engine("redis", "7.2", 6379, False),
    spec.Kind.clickhouse: Engine("clickhouse", "24.3", 9000, True),
}


# What a binlog archive needs of a MySQL/MariaDB server (both engines name them so).
BINLOG_FORMAT, BINLOG_EXPIRE = "binlog_format", "binlog_expire_logs_seconds"
BINLOG_RETENTION_S = 2 * 24 * 3600


# PCI DSS scope: a database holding card data sits on the site's cardholder network, stores on
# an encrypted volume type and accepts only TLS clients.
TLS_REQUIRED = {
    spec.Kind.postgres: ("ssl", "on"),
    spec.Kind.mysql: ("require_secure_transport", "ON"),
}


def server_parameters(platform: spec.Platform, system: spec.System, site: str) -> dict[str, str]:
    """What a placement's Trove configuration group sets (secrets aside), each a parameter its login
    cannot set by SQL:

    - payment-card data: the engine's TLS-only setting (PCI DSS requirement 4);
    - PostgreSQL replicated logically, or archived (its archive host is a logical subscriber):
      ``wal_level = logical`` in every site (whichever server is primary publishes); replicated
      logically, on the primary of a ``sync`` system ``synchronous_standby_names`` naming each
      standby's subscription (commits wait for one of them). A standby names none: it
      would wait for a subscriber it does not have. After a failover `pulumi up` of the flipped
      stack moves the setting with the primary role;
    - MySQL/MariaDB with a backup policy (its binlog is archived, ``components/binlog_archive.py``):
      ``binlog_format = ROW`` (every row change in the binlog: a point-in-time restore replays
      exactly what was written) and ``binlog_expire_logs_seconds`` of two days,
      so a streamer that was down resumes from binlog the server still holds.
    """
    parameters: dict[str, str] = {}
    if holds_card_data(system) and system.kind in TLS_REQUIRED:
        setting, value = TLS_REQUIRED[system.kind]
        parameters[setting] = value
    if system.kind is spec.Kind.mysql and system.backup is not None:
        parameters[BINLOG_FORMAT] = "ROW"
        parameters[BINLOG_EXPIRE] = str(BINLOG_RETENTION_S)
    replicated = system.topology is spec.Topology.active_passive and len(system.sites) > 1
    logical = system.kind is spec.Kind.postgres and REPLICATION_MECHANISMS[system.kind] == LOGICAL
    # The archive host subscribes to whichever server is primary (components/archive_host.py).
    if logical and (replicated or system.backup is not None):
        parameters[WAL_LEVEL] = "logical"
    if logical and replicated:
        standbys = [other for other in system.sites if placement_role(system, other) == STANDBY]
        if placement_role(system, site) == PRIMARY and system.replication is spec.ReplicationMode.sync and standbys:
            parameters[SYNCHRONOUS_STANDBY_NAMES] = synchronous_standby_names(
                [subscription_name(system.name, other) for other in standbys])
    return parameters


def holds_card_data(system: spec.System) -> bool:
    """A database system in PCI DSS scope."""
    return system.kind in ENGINES and spec.DataClass.payment_card in system.data_classes


def database_identifier(system: str) -> str:
    """The database and user name of a system: SQL identifiers take no dashes."""
    return system.replace("-", "_")


@dataclass(frozen=True)
class ManagedDatabaseArgs:
    """A database system's placement in one site; ``primary`` is set for an active-passive standby."""

    platform: spec.Platform
    system: spec.System
    site: Site
    primary: Optional["ManagedDatabase"] = None


class ManagedDatabase(pulumi.ComponentResource):
    """Trove instances (one per node) with a database and a generated login."""

    engine: str
    endpoint: pulumi.Output[str]
    """Address of the first node on the site network."""
    port: int
    role: str
    database: Optional[str]
    user: Optional[str]
    password: Optional[pulumi.Output[str]]
    """The generated password of ``user`` (a secret); for Redis the one it requires (``requirepass``)."""
    server_parameters: dict[str, str]
    """What its configuration group sets (``server_parameters()``), secrets left out."""
    replication_link: Optional[pulumi.Output[dict[str, Any]]]
    """For a standby: primary and standby endpoints, mode, mechanism, and whether `pulumi up` realises it."""
    link: Optional[ReplicationLink]
    """For a standby whose engine has a cross-site mechanism: the resource that sets it up."""
    instances: list[openstack.database.Instance]

    def __init__(self, name: str, args: ManagedDatabaseArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, site, size = args.system, args.site, args.system.size
        engine = ENGINES[system.kind]
        version = size.engine_version or engine.default_version
        props = placement_props(args.platform, system, site.name)
        nodes = warm_standby_count(size.count) if props["scale"] == WARM_STANDBY else size.count
        contract = {
            **props, "engine": engine.datastore, "engine_version": version, "flavor": size.flavor,
            "volume_gb": size.volume_gb, "node_count": nodes, "full_node_count": size.count, "port": engine.port,
        }
        super().__init__(DATABASE, name, contract, opts)
        self.engine = engine.datastore
        self.port = engine.port
        self.role = props["role"]
        on_site = pulumi.ResourceOptions(parent=self, provider=site.provider)

        self.database = self.user = None
        self.password = None
        users: list[dict[str, Any]] = []
        databases: list[dict[str, Any]] = []
        if engine.has_users:
            self.database = self.user = database_identifier(system.name)
            generated = random.RandomPassword(
                f"{name}-password", length=32, special=False,
                opts=pulumi.ResourceOptions(parent=self, provider=site.random_provider,
                                            additional_secret_outputs=["result"]))
            self.password = pulumi.Output.secret(generated.result)
            databases = [{"name": self.database}]
            users = [{"name": self.user, "password": self.password, "databases": [self.database]}]

        network_id, volume_type = site.network_id, None
        if holds_card_data(system):
            network_id = site.cardholder_network_id
            volume_type = args.platform.site(site.name).cloud.encrypted_volume_type
        self.server_parameters = server_parameters(args.platform, system, site.name)
        configurations: list[Any] = [{"name": key, "value": value} for key, value in self.server_parameters.items()]
        if system.kind is spec.Kind.redis:
            # Trove's Redis has no users: clients, replicas and the failover authenticate with the
            # password it requires, generated here and set through the configuration group.
            generated = random.RandomPassword(
                f"{name}-password", length=32, special=False,
                opts=pulumi.ResourceOptions(parent=self, provider=site.random_provider,
                                            additional_secret_outputs=["result"]))
            self.password = pulumi.Output.secret(generated.result)
            configurations.append({"name": "requirepass", "value": self.password})
        configuration_id = None
        if configurations:
            configuration_id = openstack.database.Configuration(
                f"{name}-parameters", name=f"{args.platform.name}-{name}-parameters",
                description="multidc: " + ", ".join([*self.server_parameters, *(
                    ["requirepass"] if system.kind is spec.Kind.redis else [])]) + " (not settable by its login)",
                datastore={"type": engine.datastore, "version": version}, configurations=configurations,
                opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(
                    additional_secret_outputs=["configurations"] if system.kind is spec.Kind.redis else None))).id

        flavor = openstack.compute.get_flavor_output(
            name=size.flavor, opts=pulumi.InvokeOutputOptions(parent=self, provider=site.provider))
        instances = [
            openstack.database.Instance(
                f"{name}-{index}",
                name=f"{args.platform.name}-{name}-{index}",
                flavor_id=flavor.id,
                size=size.volume_gb,
                volume_type=volume_type,
                configuration_id=configuration_id,
                datastore={"type": engine.datastore, "version": version},
                networks=[{"uuid": network_id}],
                databases=databases or None,
                users=users or None,
                opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(
                    additional_secret_outputs=["users"])),
            )
            for index in range(nodes)
        ]
        self.instances = instances
        self.endpoint = instances[0].addresses.apply(lambda addresses: addresses[0])

        self.replication_link = None
        self.link = None
        if args.primary is not None:
            mechanism = REPLICATION_MECHANISMS[system.kind]
            realised = mechanism in LINK_MECHANISMS
            if realised:
                self.link = self._declare_link(name, args, mechanism)
            self.replication_link = pulumi.Output.all(args.primary.endpoint, self.endpoint).apply(
                lambda endpoints: {
                    "primary": props["replicates_from"],
                    "primary_endpoint": endpoints[0],
                    "standby_endpoint": endpoints[1],
                    "mode": system.replication.value if system.replication else None,
                    "mechanism": mechanism,
                    "realised_by_pulumi": realised,
                })
        self.register_outputs({
            **contract,
            "endpoint": self.endpoint, "port": self.port, "role": self.role,
            "database": self.database, "user": self.user, "replication_link": self.replication_link,
            "server_parameters": self.server_parameters,
        })

    def _declare_link(self, name: str, args: ManagedDatabaseArgs, mechanism: str) -> ReplicationLink:
        """The replication from the primary into this standby, set up once both ends exist."""
        primary, system = args.primary, args.system
        assert primary is not None
        sites = f"{system.primary_site} and {args.site.name}"
        return ReplicationLink(
            f"{name}-replication",
            ReplicationLinkArgs(
                system=system.name, primary_site=system.primary_site, standby_site=args.site.name,
                mechanism=mechanism,
                mode=system.replication.value if system.replication else "async",
                primary={"host": primary.endpoint, "port": primary.port, "user": primary.user,
                         "database": primary.database},
                standby={"host": self.endpoint, "port": self.port, "user": self.user, "database": self.database},
                primary_password=primary.password, standby_password=self.password,
                network_path=f"the {args.platform.interconnect.kind} interconnect between {sites} "
                             "(or a bastion host inside them)"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*primary.instances, *self.instances]))
