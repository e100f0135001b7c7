"""The one place where multidc's contract is written: type tokens, property and output keys,
labels, annotations, and the stack outputs document's schema version.

Components register under these type tokens and with these properties; the policy pack,
the DR inventory, the operations and the test fakes read them from here. Nothing else
writes a ``multidc:<module>:<Name>`` token or one of these keys out.

This module imports nothing but the standard library: the policy pack imports it from a
virtualenv of its own (``pulumi preview --policy-pack policies``).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

# --- component type tokens (multidc:<module>:<Name>) -------------------------------------------

PLATFORM = "multidc:platform:Platform"
SITE = "multidc:site:Site"
INTERCONNECT = "multidc:interconnect:Interconnect"
VM_GROUP = "multidc:vm_group:VmGroup"
DATABASE = "multidc:database:ManagedDatabase"
OBJECT_BUCKET = "multidc:bucket:ObjectBucket"
KUBERNETES = "multidc:kubernetes:KubernetesCluster"
GPU_POOL = "multidc:gpu_pool:GpuNodePool"
ML_PLATFORM = "multidc:ml_platform:MlPlatform"
BACKUP_TARGET = "multidc:backup:BackupTarget"
BUCKET_COPY = "multidc:replication:BucketCopy"
VELERO = "multidc:velero:Velero"
TYPE_PREFIX = "multidc:"

# A system in one site: the components that carry the placement properties below.
PLACEMENTS = (VM_GROUP, DATABASE, OBJECT_BUCKET, KUBERNETES, ML_PLATFORM)

# Pulumi's own token for Python dynamic resources (the S3 bucket provider registers under it).
DYNAMIC = "pulumi-python:dynamic:Resource"

# --- replication mechanisms: how a standby copy is kept current (docs/replication.md) ------------

LOGICAL = "logical"  # PostgreSQL publication/subscription: managed endpoints (Trove), SQL access only
STREAMING = "physical-streaming"  # PostgreSQL WAL streaming: self-managed servers, file access on the standby
GTID = "gtid"  # MySQL/MariaDB GTID-based replication (semi-synchronous for `sync`)
REPLICAOF = "replicaof"  # Redis REPLICAOF: asynchronous only
RCLONE_PULL = "rclone-pull"  # buckets: the destination pulls new objects on a schedule
BACKUP_ONLY = "backup-only"  # no cross-site mechanism here: the standby is restored from backups
# Mechanisms a ReplicationLink resource realises at `pulumi up` (multidc.providers.replication_link).
LINK_MECHANISMS = (LOGICAL, STREAMING, GTID, REPLICAOF)
# The type of a replication link's dynamic resource, as its `resource_kind` property says.
REPLICATION_LINK_KIND = "replication-link"


def sql_name(name: str) -> str:
    """A PostgreSQL replication object name: lower-case, [a-z0-9_], at most 63 characters."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower())[:63]


def publication_name(system: str) -> str:
    """The publication of a logically replicated PostgreSQL system (on whichever server is primary)."""
    return sql_name(f"multidc_{system}")


def subscription_name(system: str, standby_site: str) -> str:
    """The subscription of a system's standby in `standby_site`; it connects with this application_name,
    so `synchronous_standby_names` on the primary names it."""
    return sql_name(f"multidc_{system}_{standby_site}")


def archive_subscription_name(system: str) -> str:
    """The subscription (and slot) of a system's archive host: its own, never named in synchronous_standby_names."""
    return sql_name(f"multidc_{system}_archive")


def synchronous_standby_names(names: Sequence[str], num_sync: int = 1) -> str:
    """The `synchronous_standby_names` value that makes commits wait for `num_sync` of `names`."""
    quoted = ", ".join('"' + name.replace('"', "") + '"' for name in names)
    return f"FIRST {num_sync} ({quoted})"


# Server parameters a Trove PostgreSQL replicated logically needs and its customer cannot set by SQL
# (no superuser: ALTER SYSTEM is refused); the components declare them in a configuration group.
WAL_LEVEL, SYNCHRONOUS_STANDBY_NAMES = "wal_level", "synchronous_standby_names"

# --- roles and scales of a placement ----------------------------------------------------------

PRIMARY, STANDBY, ACTIVE = "primary", "standby", "active"


def placement_name(system: str, site: str) -> str:
    """The component name of a system's placement in a site: ``<system>-<site>``."""
    return f"{system}-{site}"


FULL, WARM_STANDBY = "full", "warm-standby"

# --- property keys every component registers (inputs and outputs, docs/components.md) ----------
# Keys whose value may be null (a placement's `replication` and `backup`, a backup's
# `object_lock_mode`) are not listed: the SDK sends no key at all for a None value.

SITE_KEYS = ("site", "country", "latitude", "longitude", "seismic_zone")
PLACEMENT_KEYS = ("system", "site", "kind", "tier", "topology", "role", "sites", "primary_site", "rpo_seconds",
                  "data_classes")
BACKUP_KEYS = ("system", "site", "protects_site", "schedule", "immutable_days", "vault")
# Continuous WAL archiving of PostgreSQL into the vault (multidc.protection.archive): the tool, where in
# the vault, and how long a quiet server keeps a WAL segment open (the bound on the archive's lag).
ARCHIVE_TOOL = "barman-cloud"
ARCHIVE_PREFIX = "pg-archive"
ARCHIVE_TIMEOUT_S = 30
ARCHIVE_ACCESS = "multidc:archive_access:ArchiveAccess"
# The self-managed host in the vault's site that archives a managed (Trove) PostgreSQL: a logical
# subscriber of the primary with archive_command set, taking base backups on the backup schedule.
ARCHIVE_HOST = "multidc:archive_host:ArchiveHost"
ARCHIVE_HOST_KEYS = ("system", "site", "primary_site", "flavor", "volume_gb", "subscription", "schedule",
                     "on_calendar", "archive_timeout_s")
# Where a system's WAL archive runs (`systems.<x>.backup.archive.runs_on` in the outputs document).
# The ArchiveHost, for a managed database whose archive_command the provider keeps:
ARCHIVE_RUNS_ON_HOST = "archive-host"
ARCHIVE_RUNS_ON_PRIMARY = "primary"  # a self-managed server archives itself (`multidc local up`)
# What the database host's archive keys may do in the vault, and what is denied to them explicitly
# (an explicit deny wins over any allow another policy grants): add and read the archive, never
# remove, unlock, shorten a retention or rewrite the bucket's rules. The vault's bucket policy
# (components/archive_access.py) and the keys' IAM policy (protection/archive.py) both read these.
ARCHIVE_WRITER_ALLOWED = ("s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation")
ARCHIVE_WRITER_DENIED = (
    "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration", "s3:DeleteBucket")
# Continuous binlog archiving of MySQL/MariaDB into the vault (multidc.protection.binlog_archive): the
# streamer (`mariadb-binlog --read-from-remote-server --raw --stop-never`, a replication client of the
# primary), where in the vault, and how often the uploader sends what the streamer received (the bound on
# the archive's lag). Under the prefix, per system: `base/dump-<UTC stamp>-s<server id>.sql.gz` (base
# backups, stamped after they finish) and `binlog/<server id>/<binlog file>/<offset>` (the file's bytes from
# that offset: append-only pieces, so a locked vault never keeps a growing file's every version).
BINLOG_ARCHIVE_TOOL = "mariadb-binlog"
BINLOG_ARCHIVE_PREFIX = "mysql-binlog"
BINLOG_UPLOAD_INTERVAL_S = 5
# One upload of an interval's bytes on a loaded machine: with the interval, the archive's lag bound.
BINLOG_UPLOAD_ALLOWANCE_S = 5
BINLOG_ARCHIVE_LAG_S = BINLOG_UPLOAD_INTERVAL_S + BINLOG_UPLOAD_ALLOWANCE_S
BINLOG_ARCHIVE = "multidc:binlog_archive:BinlogArchive"
BINLOG_BASE_DIR, BINLOG_LOG_DIR = "base", "binlog"
BINLOG_ARCHIVER_LOGIN = "binlog_archiver"
# Where the archive runs: in the offsite site's runner cluster (a Deployment), as a replication client.
BINLOG_RUNS_ON = "runner-cluster"
COPY_KEYS = ("system", "source_site", "destination_site", "schedule")
# Optional placement keys: a system declared stateless (a cache, a job runner) and why; the
# backup policy (MDC-BAK-001) trusts the declaration and shows its reason.
STATELESS = "stateless"
STATELESS_REASON = "stateless_reason"

# The platform's policy waivers: a list of {policy, system | resource, reason, expires}, registered
# by the Platform component as an input and an output; the policy pack honours them.
WAIVERS = "waivers"
WAIVER_POLICY = "policy"
WAIVER_SYSTEM = "system"
WAIVER_RESOURCE = "resource"
WAIVER_REASON = "reason"
WAIVER_EXPIRES = "expires"  # an ISO date (YYYY-MM-DD); the waiver holds through that day

CONTRACT: Mapping[str, tuple[str, ...]] = {
    SITE: SITE_KEYS, BACKUP_TARGET: BACKUP_KEYS, BUCKET_COPY: COPY_KEYS, ARCHIVE_HOST: ARCHIVE_HOST_KEYS,
    **{placement: PLACEMENT_KEYS for placement in PLACEMENTS},
}

# --- labels, tags and annotations ---------------------------------------------------------------

# OpenStack tags and server metadata on what a system declares.
TAG_SYSTEM = "multidc-system"
TAG_SITE = "multidc-site"
TAG_ROLE = "multidc-role"
TAG_BACKUP_OF = "multidc-backup-of"

# Kubernetes labels on every object the toolkit writes (the recommended app.kubernetes.io set):
# `part-of` is the system, so a system's workloads are selected with
# `app.kubernetes.io/part-of=<system>,app.kubernetes.io/managed-by=multidc`.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "multidc"
# On a workload declared at zero replicas in a warm standby: how many to scale to at failover.
ANNOTATION_SERVING_REPLICAS = "multidc.io/serving-replicas"


def system_selector(system: str) -> str:
    """The Kubernetes label selector of a system's workloads."""
    return f"{LABEL_PART_OF}={system},{LABEL_MANAGED_BY}={MANAGED_BY}"


# --- the stack outputs document (docs/outputs.md, docs/outputs.schema.json) ----------------------

OUTPUTS_KEY = "multidc"  # `pulumi stack output multidc --json --show-secrets`
OUTPUTS_SCHEMA = "multidc.outputs/v1"

# --- how clients find the platform, and how the team learns it is in danger (issue 17) ---------

SERVICE_NAMES = "multidc:dns:ServiceNames"
LOAD_BALANCER = "multidc:loadbalancer:LoadBalancer"
MONITORING = "multidc:monitoring:Monitoring"
# A service name's visibility: public names resolve to floating IPs, private ones to site addresses.
PUBLIC, PRIVATE = "public", "private"
ML_ENDPOINTS = "multidc:ml_endpoints:MlEndpoints"
# Cloud-provider-openstack (the Kubernetes cloud controller of Magnum clusters): the Service annotations
# that give an Octavia load balancer a VIP port of ours and keep it off floating IPs of its own.
ANNOTATION_LB_PORT_ID = "loadbalancer.openstack.org/port-id"
ANNOTATION_LB_INTERNAL = "service.beta.kubernetes.io/openstack-internal-load-balancer"
