"""The backends of a failover or failback, built from the deployed stack's outputs.

Each system's servers, buckets and service names come from the outputs document; nothing is
typed in by hand. What the document does not give (a DNS record in a local deployment, a
Kubernetes cluster's credentials, a Pulumi CLI) needs an operator: the step stops the run
and says why and what to do by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from multidc.dr.backends import DatabaseBackend, PulumiBackend, RecordingBackend, StorageBackend
from multidc.dr.designate import DesignateZone
from multidc.dr.dns import DeclaredName, DnsServer, Rfc2136Zone, ServiceNameBackend, ZoneCopy
from multidc.dr.kubernetes import KubernetesBackend
from multidc.protection import postgres as pg
from multidc.protection.rclone import S3Location
from multidc.spec import Platform

from .outputs import Database, StackOutputs

REPLICATION_PASSWORD_ENV = "MULTIDC_REPLICATION_PASSWORD"


def secret_value(value: Any) -> Any:
    """The plaintext of an outputs secret (None stays None)."""
    return None if value is None else value.get_secret_value()


def server(system: str, site: str, database: Database) -> Any:
    """A PostgreSQL server from its outputs entry: a local server the toolkit controls, else an endpoint."""
    password = secret_value(database.password)
    if database.local is not None:
        from multidc.local.postgres import LocalPostgres

        netns = database.local.netns
        return LocalPostgres.attach(f"{site}-{system}", Path(database.local.base_dir), port=database.port,
                                    password=password or "", host=database.host,
                                    launcher=["ip", "netns", "exec", netns] if netns else ())
    return pg.PgEndpoint(host=database.host, port=database.port, user=database.user or "postgres",
                         password=password, dbname=database.database or "postgres")


def servers(outputs: StackOutputs) -> dict[tuple[str, str], Any]:
    return {(name, site): server(name, site, placement.database)
            for name, system in outputs.systems.items() if system.kind == "postgres"
            for site, placement in system.placements.items() if placement.database is not None}


def buckets(outputs: StackOutputs) -> dict[tuple[str, str], S3Location]:
    found = {}
    for name, system in outputs.systems.items():
        for site, placement in system.placements.items():
            if placement.bucket is None:
                continue
            keys = outputs.sites[site].s3
            found[(name, site)] = S3Location(endpoint=placement.bucket.endpoint, bucket=placement.bucket.bucket,
                                             region=placement.bucket.region, access_key=secret_value(keys.access_key),
                                             secret_key=secret_value(keys.secret_key))
    return found


def dns_servers(outputs: StackOutputs) -> dict[str, DnsServer]:
    """The sites whose service names live on a DNS server that takes RFC 2136 updates (TSIG-signed)."""
    return {name: DnsServer(address=site.dns_server.address, port=site.dns_server.port, zone=site.dns_server.zone,
                            key_name=site.dns_server.tsig_key_name, key_secret=secret_value(site.dns_server.tsig_secret) or "",
                            algorithm=site.dns_server.tsig_algorithm)
            for name, site in outputs.sites.items() if site.dns_server is not None}


def service_names(outputs: StackOutputs) -> dict[str, tuple[DeclaredName, ...]]:
    """Each system's service names exactly as the deployed stack declares them (`systems.<s>.service_names`)."""
    return {name: tuple(DeclaredName(system=name, name=declared.name, zone=declared.zone, type=declared.type,
                                     ttl=declared.ttl, active_active=system.topology == "active-active",
                                     copies=tuple(declared.sites), site_addresses=dict(declared.site_addresses))
                        for declared in system.service_names)
            for name, system in outputs.systems.items() if system.service_names}


def zone_copies(platform: Platform, outputs: StackOutputs) -> dict[str, ZoneCopy]:
    """Each site's copy of the service names' zone: its RFC 2136 server where the outputs name one, else
    its Designate (a deployed stack; a local deployment has none)."""
    copies: dict[str, ZoneCopy] = {site: Rfc2136Zone(server) for site, server in dns_servers(outputs).items()}
    for name, site in outputs.sites.items():
        if name in copies or outputs.local or not site.dns_zone:
            continue

        def connect(name: str = name) -> Any:
            import openstack

            return openstack.connect(cloud=platform.site(name).cloud.profile or name)

        copies[name] = DesignateZone(name, connect)
    return copies


def kubeconfigs(platform: Platform, outputs: StackOutputs) -> dict[tuple[str, str], dict[str, Any]]:
    """(system, site) -> the kubeconfig of the cluster that runs the system's workloads there: a kubernetes
    system's own cluster; for an ML platform, the cluster it runs on (`ml.cluster` in the spec)."""
    import yaml

    found = {}
    for spec_system in platform.systems:
        on = spec_system.ml.cluster if spec_system.ml is not None else spec_system.name
        system = outputs.systems.get(on)
        for site, placement in (system.placements.items() if system else ()):
            config = secret_value(placement.cluster.kubeconfig) if placement.cluster is not None else None
            if config:
                found[(spec_system.name, site)] = yaml.safe_load(config)
    return found


def replication_auth(outputs: StackOutputs) -> pg.ReplicationAuth:
    """The standbys' streaming role: from the outputs where the deployment has one, else the environment."""
    for system in outputs.systems.values():
        if system.replication_auth is not None and system.replication_auth.password is not None:
            return pg.ReplicationAuth(password=secret_value(system.replication_auth.password),
                                      user=system.replication_auth.user)
    return pg.ReplicationAuth(password=os.environ.get(REPLICATION_PASSWORD_ENV, ""))


class Declared:
    """The decision steps: the operator declared them by running the command (and answering its prompt or
    passing --yes), which the executor reached only after both. Atomic, idempotent; no timeout."""

    def run(self, step: Any) -> str:
        return f"declared by the operator on the command line: {step.title}"


def backends(platform: Platform, outputs: StackOutputs, root: Path) -> dict[str, Any]:
    """Backends for a real run of a runbook against what `outputs` says is deployed."""
    not_deployed = RecordingBackend("the stack outputs give no endpoint of this system in this site")
    no_record = RecordingBackend("the stack outputs name no DNS record for this system here"
                                 + (" (a local deployment has no DNS server)" if outputs.local else ""))
    dns = ServiceNameBackend(service_names(outputs), zone_copies(platform, outputs), fallback=no_record)
    return {
        "db": database_backend(platform, outputs, not_deployed),
        "storage": StorageBackend(buckets(outputs), fallback=not_deployed),
        "dns": dns,
        "k8s": KubernetesBackend(kubeconfigs(platform, outputs), fallback=RecordingBackend(
            "the stack outputs give no kubeconfig of this system's cluster here; scale the standby's workloads by "
            "hand or with pulumi up")),
        "pulumi": PulumiBackend(platform, root, plan=None, write=True, not_deployed_by_pulumi=(
            "a local deployment is not deployed by Pulumi: the stack file is left as it is" if outputs.local else None)),
        "decide": Declared(),
        "manual": RecordingBackend("ask the provider; confirm in writing"),
        "restore": RecordingBackend("run `multidc restore` for this system"),
        "net": RecordingBackend("test networks are created by pulumi up of a test stack"),
    }


def database_backend(platform: Platform, outputs: StackOutputs, fallback: Any) -> Any:
    """The `db` backend: each system's steps go to the backend of its replication mechanism."""
    from multidc.contract import GTID, LOGICAL, REPLICAOF
    from multidc.dr.engines import mariadb as mariadb_engine
    from multidc.dr.engines import redis as redis_engine
    from multidc.dr.engines.dispatch import MechanismDispatch
    from multidc.dr.engines.logical import LogicalDatabaseBackend

    postgres = servers(outputs)
    names = {site.name: pg.slot_name(site.name) for site in platform.sites}
    mechanisms = {name: placed.replication_mechanism for name, system in outputs.systems.items()
                  for placed in system.placements.values() if placed.replication_mechanism}
    return MechanismDispatch(mechanisms, {
        LOGICAL: LogicalDatabaseBackend(postgres, replication_auth(outputs), names, fallback=fallback),
        REPLICAOF: redis_engine.RedisDatabaseBackend(redis_engine.servers(outputs), fallback=fallback),
        GTID: mariadb_engine.MariaDBDatabaseBackend(mariadb_engine.servers(outputs), fallback=fallback),
    }, default=DatabaseBackend(postgres, replication_auth(outputs), names, fallback=fallback))
