"""The offsite backups of one system: a locked vault bucket and the jobs that fill it.

Everything runs in the offsite site and pulls: a compromised primary holds no job, no
schedule and no key that could stop, alter or delete the backups written here.

* Databases: a CronJob dumps the primary (``pg_dump -Fc``, ``redis-cli --rdb``) into the pod
  and rclone uploads the file to the vault. MySQL/MariaDB: its binlog streamed continuously and
  dumps carrying their binlog position (``binlog_archive.py``), with the archive writer's keys.
* ClickHouse: the server writes ``BACKUP ... TO S3`` into a staging bucket and rclone
  copies it into the vault.
* Buckets: rclone copies the live bucket into the vault (``copy``: deletions never reach it).
* Kubernetes and the ML platform: Velero in each cluster writes to a staging bucket
  (Velero breaks on object-locked buckets; see ``velero.py``) and rclone copies that into
  the vault.

The vault is versioned and, when ``immutable_days > 0``, under COMPLIANCE object lock:
nobody, including the project's admin, can delete or overwrite a version before then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import pulumi
import pulumi_kubernetes as k8s

from multidc import spec
from multidc.components.archive_access import ArchiveAccess, ArchiveAccessArgs
from multidc.components.archive_host import ArchiveHost, ArchiveHostArgs
from multidc.components.bucket import ObjectBucket, site_bucket
from multidc.components import k8s_workloads as kw
from multidc.components.common import (
    backup_props,
    bucket_name,
    cron_job,
    k8s_name,
    namespace,
    rclone_job_container,
    retention_days,
    s3_credentials_secret,
)
from multidc.components.database import ManagedDatabase
from multidc.components.kubernetes import KubernetesCluster
from multidc.components.site import Site
from multidc.protection.barman_cloud import ArchiveTarget
from multidc.protection.db_backup import KEY_PREFIX as DB_KEY_PREFIX
from multidc.protection.rclone import DESTINATION_REMOTE, S3Location
from multidc.components.binlog_archive import BinlogArchive, BinlogArchiveArgs
from multidc.contract import (ARCHIVE_PREFIX, ARCHIVE_RUNS_ON_HOST, ARCHIVE_TIMEOUT_S, ARCHIVE_TOOL, BACKUP_TARGET,
                              BINLOG_ARCHIVE_LAG_S, BINLOG_ARCHIVE_PREFIX, BINLOG_ARCHIVE_TOOL, BINLOG_RUNS_ON,
                              TAG_BACKUP_OF, TAG_SYSTEM)

MECHANISMS = {
    spec.Kind.postgres: "pg-dump",
    spec.Kind.mysql: "mysqldump",
    spec.Kind.redis: "redis-rdb",
    spec.Kind.clickhouse: "clickhouse-backup",
    spec.Kind.kubernetes: "velero",
    spec.Kind.ml_platform: "velero",
    spec.Kind.bucket: "rclone-copy",
}
# Writers that cannot write to a locked bucket (no Content-MD5 on their uploads) go
# through a plain staging bucket in the same site.
STAGED = frozenset({"velero", "clickhouse-backup"})
# Staged backups reach the vault within the hour.
STAGING_COPY_SCHEDULE = "30 * * * *"
COMPLIANCE = "COMPLIANCE"

# Dump clients, pinned; a client must not be older than the server it dumps.
DUMP_IMAGES = {
    "pg-dump": {"14": "postgres:14.13", "15": "postgres:15.8", "16": "postgres:16.4", "17": "postgres:17.0"},
    "redis-rdb": {"7.2": "redis:7.2.5"},
    "clickhouse-backup": {"24.3": "clickhouse/clickhouse-server:24.3.12.75"},
}
_STAMP = "$(date -u +%Y%m%dT%H%M%SZ)"
DUMP_COMMANDS = {
    # Named after the dump finishes (and a second later), the layout `multidc restore` reads:
    # a stamp never earlier than the snapshot, so "newest backup before T" never picks a later one.
    "pg-dump": ["sh", "-c", 'pg_dump -Fc --no-password -f /backup/dump.partial && sleep 1 && '
                            f'exec mv /backup/dump.partial "/backup/{_STAMP}.dump"'],
    # Named after the snapshot finishes, as pg-dump's: the layout `multidc restore --to-new` reads
    # (protection/redis_backup.py, redis-rdb/dump-<stamp>.rdb).
    "redis-rdb": ["sh", "-c", 'REDISCLI_AUTH="$DB_PASSWORD" redis-cli -h "$DB_HOST" -p "$DB_PORT" --rdb '
                              '/backup/dump.partial && sleep 1 && '
                              f'exec mv /backup/dump.partial "/backup/dump-{_STAMP}.rdb"'],
    # The S3 keys go into the statement, so they are in this container's process arguments;
    # ClickHouse masks them in its own query log.
    "clickhouse-backup": ["sh", "-c",
                          'exec clickhouse-client --host "$DB_HOST" --port "$DB_PORT" --user "$DB_USER" '
                          '--password "$DB_PASSWORD" --query "BACKUP ALL EXCEPT DATABASES system, '
                          'information_schema, INFORMATION_SCHEMA TO S3('
                          f"'$STAGING_URL/{_STAMP}', '$STAGING_ACCESS_KEY', '$STAGING_SECRET_KEY')\""],
}


def vault_prefix(system: spec.System, mechanism: str) -> str:
    """Where a mechanism writes in the vault: the layouts `multidc restore` reads.

    A bucket's copy keeps the objects' own keys (restore compares them key by key);
    PostgreSQL dumps go under `db/<system>/<stamp>.dump`, as `protection.db_backup` writes
    and reads them; the other mechanisms under their own name.
    """
    if mechanism == "rclone-copy":
        return ""
    if mechanism == "pg-dump":
        return f"{DB_KEY_PREFIX}/{system.name}"
    return mechanism


def archive_props(system: spec.System) -> dict[str, Any]:
    """How a PostgreSQL system's WAL is archived into the vault (barman-cloud, ``archive_command``).

    The program declares managed databases (Trove), whose ``archive_command`` the provider keeps:
    the archive runs on a replica the customer controls, the archive host (``archive_host.py``, a
    logical subscriber in the vault's site). A self-managed server (``multidc local up``) archives
    on its primary.
    MySQL/MariaDB streams its binlog from the primary as a replication client in the offsite site's runner
    cluster (``BinlogArchive``); its bound is the uploader's interval plus one upload. Other kinds archive
    nothing continuously.
    """
    if system.kind is spec.Kind.mysql:
        return {"archive_tool": BINLOG_ARCHIVE_TOOL, "archive_timeout_s": BINLOG_ARCHIVE_LAG_S,
                "archive_runs_on": BINLOG_RUNS_ON, "archive_prefix": BINLOG_ARCHIVE_PREFIX}
    if system.kind is not spec.Kind.postgres:
        return {"archive_tool": None, "archive_timeout_s": None, "archive_runs_on": None, "archive_prefix": None}
    return {"archive_tool": ARCHIVE_TOOL, "archive_timeout_s": ARCHIVE_TIMEOUT_S, "archive_runs_on": ARCHIVE_RUNS_ON_HOST,
            "archive_prefix": ARCHIVE_PREFIX}


def backup_mechanism(system: spec.System) -> str:
    """How a system is backed up (the spec refuses a backup policy on a kind without one)."""
    return MECHANISMS[system.kind]


def dump_image(mechanism: str, version: str) -> str:
    """The pinned client image of an engine version; for a version not listed, the newest
    client listed (dump clients read older servers, never newer ones)."""
    images = DUMP_IMAGES[mechanism]
    return images.get(version) or list(images.values())[-1]


@dataclass(frozen=True)
class VeleroTarget:
    """Where one system's Velero backups go: a staging bucket in the offsite site, and when."""

    system: str
    offsite: Site
    bucket: str
    schedule: str
    retention: spec.Retention
    namespaces: tuple[str, ...]
    depends_on: pulumi.Resource
    """The staging bucket: Velero's storage location is useless before it exists."""


@dataclass(frozen=True)
class BackupTargetArgs:
    """A system with a backup policy, the site it protects, and where its jobs run.

    ``runner`` is a cluster placement in the offsite site. ``source`` is the primary
    placement (a database or bucket) the jobs read; None for systems Velero backs up.
    ``namespaces`` selects what Velero backs up (``*`` for a whole cluster).
    """

    platform: spec.Platform
    system: spec.System
    site: Site
    protects: Site
    runner: KubernetesCluster
    source: Union[ManagedDatabase, ObjectBucket, None] = None
    namespaces: tuple[str, ...] = ("*",)


class BackupTarget(pulumi.ComponentResource):
    """The vault (and staging) bucket in the offsite site, and the pull jobs that fill them."""

    vault: str
    endpoint: str
    mechanism: str
    object_lock_mode: Optional[str]
    archive: Optional[dict[str, Any]]
    """PostgreSQL: how its WAL is archived into the vault (``archive_props``); None for other kinds."""
    access: Optional[ArchiveAccess]
    """PostgreSQL, MySQL: the archive writer's user, keys and the vault's bucket policy; None for other kinds."""
    host: Optional[ArchiveHost]
    """PostgreSQL on a managed primary: the host that archives its WAL (a logical subscriber); else None."""
    binlog_archive: Optional[BinlogArchive] = None
    """MySQL/MariaDB: the binlog streamer, uploader and base-backup job in the runner cluster."""
    velero: Optional[VeleroTarget]
    """For Velero-backed systems: what each of the system's clusters must be told."""

    def __init__(self, name: str, args: BackupTargetArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, site = args.system, args.site
        policy = system.backup
        assert policy is not None
        mechanism = backup_mechanism(system)
        lock_mode = COMPLIANCE if policy.immutable_days > 0 else None
        vault_name = bucket_name(args.platform.name, system.name, "vault", site.name)
        contract = {
            **backup_props(system), "system": system.name, "site": site.name, "protects_site": args.protects.name,
            "object_lock_mode": lock_mode, "mechanism": mechanism, "vault": vault_name,
            "endpoint": site.s3_endpoint, "runner": args.runner.placement, **archive_props(system),
        }
        super().__init__(BACKUP_TARGET, name, contract, opts)
        # Attributes after super().__init__: Pulumi sets one Output attribute per prop key there.
        self.mechanism, self.vault, self.endpoint = mechanism, vault_name, site.s3_endpoint
        self.object_lock_mode = lock_mode
        binlog = system.kind is spec.Kind.mysql and isinstance(args.source, ManagedDatabase)
        self.archive = archive_props(system) if system.kind is spec.Kind.postgres or binlog else None
        tags = {TAG_SYSTEM: system.name, TAG_BACKUP_OF: args.protects.name}
        # The archive host writes with keys of its own, which the vault's policy denies every delete.
        self.access = None if self.archive is None else ArchiveAccess(f"{name}-archive-access", ArchiveAccessArgs(
            platform=args.platform.name, system=system.name, site=site,
            project=args.platform.site(site.name).cloud.project, vault=self.vault,
            prefix=self.archive["archive_prefix"]), pulumi.ResourceOptions(parent=self))
        # A managed primary keeps archive_command to itself: the archive runs on a host of ours in this site.
        self.host = None
        if self.access is not None and system.kind is spec.Kind.postgres and isinstance(args.source, ManagedDatabase):
            self.host = ArchiveHost(f"{name}-archive-host", ArchiveHostArgs(
                platform=args.platform, system=system, site=site, primary=args.source, access=self.access,
                target=ArchiveTarget(site.s3_endpoint, self.vault, system.name)), pulumi.ResourceOptions(parent=self))
        vault = site_bucket(
            f"{name}-vault", site, self.vault, self, lifecycle_days=retention_days(system),
            noncurrent_days=max(policy.immutable_days, 7), object_lock_mode=lock_mode,
            object_lock_days=policy.immutable_days or None, tags=tags,
            policy=None if self.access is None else self.access.bucket_policy)

        in_runner = pulumi.ResourceOptions(parent=self, provider=args.runner.provider)
        jobs_namespace = namespace(f"{name}-namespace", k8s_name("backup", system.name), "restricted", in_runner)
        offsite_keys = s3_credentials_secret(
            f"{name}-offsite-keys", jobs_namespace, site.s3_access_key, site.s3_secret_key, in_runner).metadata.name
        vault_location = S3Location(endpoint=site.s3_endpoint, bucket=self.vault,
                                    prefix=vault_prefix(system, mechanism), secret_name=offsite_keys)
        after_vault = pulumi.ResourceOptions.merge(in_runner, pulumi.ResourceOptions(depends_on=[vault]))

        self.velero = None
        staging: Optional[str] = None
        if self.mechanism in STAGED:
            staging = bucket_name(args.platform.name, system.name, "staging", site.name)
            staging_bucket = site_bucket(f"{name}-staging", site, staging, self, noncurrent_days=7, tags=tags)
            staging_location = S3Location(endpoint=site.s3_endpoint, bucket=staging, secret_name=offsite_keys)
            cron_job(f"{name}-copy", jobs_namespace, STAGING_COPY_SCHEDULE,
                     [rclone_job_container(staging_location, vault_location)], after_vault)
            if self.mechanism == "velero":
                self.velero = VeleroTarget(system=system.name, offsite=site, bucket=staging,
                                           schedule=policy.schedule, retention=policy.retention,
                                           namespaces=args.namespaces, depends_on=staging_bucket)

        if isinstance(args.source, ObjectBucket):
            source_keys = s3_credentials_secret(
                f"{name}-source-keys", jobs_namespace, args.protects.s3_access_key, args.protects.s3_secret_key,
                in_runner).metadata.name
            cron_job(f"{name}-copy", jobs_namespace, policy.schedule,
                     [rclone_job_container(args.source.location(source_keys), vault_location)], after_vault)
        elif binlog and self.access is not None:
            self.binlog_archive = self._binlog_archive(name, args, jobs_namespace, after_vault)
        elif isinstance(args.source, ManagedDatabase):
            self._dump_job(name, args, jobs_namespace, policy.schedule, vault_location, staging, after_vault)

        self.register_outputs({**contract, "vault": self.vault, "endpoint": self.endpoint, "mechanism": self.mechanism})

    def _binlog_archive(self, name: str, args: BackupTargetArgs, jobs_namespace: pulumi.Output[str],
                        opts: pulumi.ResourceOptions) -> BinlogArchive:
        """MySQL/MariaDB: the binlog streamed into the vault and base backups on the schedule, with the writer's keys."""
        database, access, policy = args.source, self.access, args.system.backup
        assert isinstance(database, ManagedDatabase) and access is not None and policy is not None
        return BinlogArchive(f"{name}-binlog", BinlogArchiveArgs(
            system=args.system.name, engine_version=args.system.size.engine_version or "8.0", namespace=jobs_namespace,
            db_host=database.endpoint, db_port=database.port, endpoint=args.site.s3_endpoint, vault=self.vault,
            prefix=BINLOG_ARCHIVE_PREFIX, writer_access_key=access.access_key, writer_secret_key=access.secret_key,
            schedule=policy.schedule, volume_gb=args.system.size.volume_gb, provider=args.runner.provider,
            random_provider=args.site.random_provider), opts)

    def _dump_job(self, name: str, args: BackupTargetArgs, jobs_namespace: pulumi.Output[str], schedule: str,
                  vault: S3Location, staging: Optional[str], opts: pulumi.ResourceOptions) -> None:
        """Dump the primary database from here and upload the file to the vault; ClickHouse
        instead writes its backup from the server into the staging bucket."""
        database = args.source
        assert isinstance(database, ManagedDatabase)
        login = k8s.core.v1.Secret(
            f"{name}-db-login",
            metadata={"name": k8s_name("backup", args.system.name, "login"), "namespace": jobs_namespace},
            string_data={"password": database.password if database.password is not None else ""},
            opts=opts).metadata.name
        password = {"secret_key_ref": {"name": login, "key": "password"}}
        env: list[dict[str, Any]] = [
            {"name": "DB_HOST", "value": database.endpoint},
            {"name": "DB_PORT", "value": str(database.port)},
            {"name": "DB_USER", "value": database.user or ""},
            {"name": "DB_NAME", "value": database.database or ""},
            {"name": "DB_PASSWORD", "value_from": password},
        ]
        if self.mechanism == "pg-dump":
            env += [{"name": "PGHOST", "value": database.endpoint}, {"name": "PGPORT", "value": str(database.port)},
                    {"name": "PGUSER", "value": database.user}, {"name": "PGDATABASE", "value": database.database},
                    {"name": "PGPASSWORD", "value_from": password}]
        elif staging is not None:
            keys = {"name": vault.secret_name}
            env += [
                {"name": "STAGING_URL", "value": f"{vault.endpoint.rstrip('/')}/{staging}/{args.system.name}"},
                {"name": "STAGING_ACCESS_KEY", "value_from": {"secret_key_ref": {**keys, "key": "access_key"}}},
                {"name": "STAGING_SECRET_KEY", "value_from": {"secret_key_ref": {**keys, "key": "secret_key"}}},
            ]
        dump = kw.container(self.mechanism, dump_image(self.mechanism, args.system.size.engine_version or ""),
                            args=DUMP_COMMANDS[self.mechanism], cpu="500m", memory="1Gi", env=env)
        if staging is not None:
            cron_job(f"{name}-dump", jobs_namespace, schedule, [dump], opts)
            return
        mount = {"name": "backup", "mount_path": "/backup"}
        dump["volume_mounts"] = [*dump["volume_mounts"], mount]
        volume = {"name": "backup", "empty_dir": {"size_limit": f"{args.system.size.volume_gb}Gi"}}
        cron_job(f"{name}-dump", jobs_namespace, schedule, [upload_container(vault, mount)], opts,
                 init_containers=[dump], volumes=[volume])


def upload_container(destination: S3Location, mount: dict[str, Any]) -> dict[str, Any]:
    """rclone uploading the dump directory into ``destination``.

    Built from the copy container so the destination is configured exactly as every copy
    job's is (same remote settings, keys from the same Secret); only the source differs: a
    local directory instead of a bucket, so the source remote's settings are dropped.
    """
    container = rclone_job_container(destination, destination, name="upload")
    destination_only = f"RCLONE_CONFIG_{DESTINATION_REMOTE}_"
    container["env"] = [item for item in container["env"] if item["name"].startswith(destination_only)]
    container["args"] = ["copy", mount["mount_path"], *container["args"][2:]]
    container["volume_mounts"] = [mount]
    return container
