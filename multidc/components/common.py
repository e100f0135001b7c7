"""What every component shares: placement roles and props, names, and the job plumbing.

``placement_props`` is the one place the property contract of docs/components.md is
built; every placement component passes its result (plus kind-specific keys) to
``super().__init__``. The Kubernetes helpers give every Secret and CronJob the toolkit
writes the same hardening: credentials from Secrets built from Pulumi secrets, requests
and limits, non-root, read-only root filesystem, pinned images.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from multidc.components import k8s_workloads as kw
from multidc.contract import placement_name  # noqa: F401 - components name their placements with it
from multidc.contract import BACKUP_ONLY, GTID, LOGICAL, RCLONE_PULL, REPLICAOF
from multidc.protection.rclone import S3Location, cronjob_container
from multidc.contract import (STATELESS, STATELESS_REASON, WAIVER_EXPIRES, WAIVER_POLICY, WAIVER_REASON,
                              WAIVER_RESOURCE, WAIVER_SYSTEM)
from multidc.spec import Kind, Platform, System, Topology, Waiver

# Roles and scales a placement can have (docs/components.md).
PRIMARY, STANDBY, ACTIVE = "primary", "standby", "active"
FULL, WARM_STANDBY = "full", "warm-standby"

# How a standby copy is kept current (docs/replication.md). Trove gives a managed SQL endpoint
# and no file access, so PostgreSQL there is replicated logically; MySQL/MariaDB with GTIDs;
# Redis with REPLICAOF; ClickHouse has no cross-site mechanism here (backups only); buckets by
# the rclone pull job. The database mechanisms are realised by a ReplicationLink at `pulumi up`.
REPLICATION_MECHANISMS = {
    Kind.postgres: LOGICAL,
    Kind.mysql: GTID,
    Kind.redis: REPLICAOF,
    Kind.clickhouse: BACKUP_ONLY,
    Kind.bucket: RCLONE_PULL,
}

_S3_NAME_LIMIT = 63
_K8S_NAME_LIMIT = 63
_CRONJOB_NAME_LIMIT = 52  # Kubernetes appends an 11-character suffix to name each run's Job


def placement_role(system: System, site: str) -> str:
    """``active`` in every site of an active-active system; else ``primary`` or ``standby``."""
    if system.topology is Topology.active_active:
        return ACTIVE
    return PRIMARY if site == system.primary_site else STANDBY


def placement_scale(system: System, site: str) -> str:
    """An active-passive standby runs scaled down (a warm standby); every other placement runs full."""
    return WARM_STANDBY if placement_role(system, site) == STANDBY else FULL


def warm_standby_count(count: int) -> int:
    """About a third of the full count, never less than one."""
    return max(1, math.ceil(count / 3))


def backup_props(system: System) -> Optional[dict[str, Any]]:
    if system.backup is None:
        return None
    retention = system.backup.retention
    return {
        "schedule": system.backup.schedule,
        "daily": retention.daily,
        "weekly": retention.weekly,
        "monthly": retention.monthly,
        "immutable_days": system.backup.immutable_days,
        "offsite_site": system.backup.offsite_site,
    }


def placement_props(platform: Platform, system: System, site: str) -> dict[str, Any]:
    """The properties every placement component registers (docs/components.md)."""
    role = placement_role(system, site)
    props: dict[str, Any] = {
        "platform": platform.name,
        "system": system.name,
        "site": site,
        "kind": system.kind.value,
        "tier": system.tier.value,
        "topology": system.topology.value,
        "role": role,
        "scale": placement_scale(system, site),
        "replication": system.replication.value if system.replication else None,
        "primary_site": system.primary_site,
        "sites": list(system.sites),
        "rpo_seconds": int(system.rpo.total_seconds()),
        "rto_seconds": int(system.rto.total_seconds()),
        "data_classes": [data_class.value for data_class in system.data_classes],
        "backup": backup_props(system),
    }
    if role == STANDBY:
        props["replicates_from"] = placement_name(system.name, system.primary_site)
        props["replication_mechanism"] = REPLICATION_MECHANISMS.get(system.kind)
    if system.stateless:  # the backup policy (MDC-BAK-001) trusts the declaration and its reason
        props[STATELESS] = True
        props[STATELESS_REASON] = system.stateless_reason
    return props


def waiver_props(waiver: Waiver) -> dict[str, Any]:
    """A waiver of the spec as the Platform component registers it for the policy pack."""
    props = {WAIVER_POLICY: waiver.policy, WAIVER_SYSTEM: waiver.system, WAIVER_RESOURCE: waiver.resource,
             WAIVER_REASON: waiver.reason, WAIVER_EXPIRES: waiver.expires.isoformat()}
    return {key: value for key, value in props.items() if value is not None}


def bounded_name(limit: int, *parts: str) -> str:
    """``parts`` joined by dashes; if longer than ``limit``, cut and suffixed with a short hash
    so that two long names never collide."""
    name = "-".join(parts)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:limit - len(digest) - 1].rstrip('-')}-{digest}"


def bucket_name(platform: str, *parts: str) -> str:
    """A bucket name unique per platform on a site's endpoint, within S3's 63 characters."""
    return bounded_name(_S3_NAME_LIMIT, platform, *parts)


def k8s_name(*parts: str) -> str:
    """A Kubernetes object name (DNS label) within 63 characters."""
    return bounded_name(_K8S_NAME_LIMIT, *parts)


def retention_days(system: System) -> int:
    """The longest retention of a backup policy, in days: the age at which a backup may go."""
    assert system.backup is not None
    return system.backup.retention.longest_days


# --- Kubernetes objects ---------------------------------------------------------------

def namespace(resource_name: str, name: str, pod_security: str, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """A namespace whose pods the Pod Security admission holds to ``pod_security``
    (``restricted`` for the toolkit's own jobs; ``privileged`` only where a chart's node agent
    needs the host); returns its name."""
    return k8s.core.v1.Namespace(
        resource_name,
        metadata={"name": name, "labels": {"pod-security.kubernetes.io/enforce": pod_security}},
        opts=opts,
    ).metadata.name


@dataclass(frozen=True)
class HelmChart:
    """An official chart pinned to a version: where it is published and which release of it."""

    chart: str
    repo: str
    version: str


def helm_release(resource_name: str, chart: HelmChart, namespace: pulumi.Input[str], values: dict[str, Any],
                 opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    """An official chart at its pinned version, released under the chart's own name."""
    return k8s.helm.v3.Release(
        resource_name,
        name=chart.chart,
        chart=chart.chart,
        version=chart.version,
        repository_opts={"repo": chart.repo},
        namespace=namespace,
        values=values,
        opts=opts,
    )


def s3_credentials_secret(
    name: str,
    namespace: pulumi.Input[str],
    access_key: pulumi.Input[str],
    secret_key: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """A Secret with keys ``access_key`` and ``secret_key`` (what rclone's secretKeyRefs read)."""
    return k8s.core.v1.Secret(
        name,
        metadata={"name": name, "namespace": namespace},
        type="Opaque",
        string_data={
            "access_key": pulumi.Output.secret(access_key),
            "secret_key": pulumi.Output.secret(secret_key),
        },
        opts=opts,
    )


def rclone_job_container(source: S3Location, destination: S3Location, **options: Any) -> dict[str, Any]:
    """rclone's pull container (``protection.rclone``) with CPU and memory both requested and limited."""
    return {**cronjob_container(source, destination, **options), "resources": kw.resources("500m", "512Mi")}


def cron_job(
    name: str,
    namespace: pulumi.Input[str],
    schedule: str,
    containers: Sequence[dict[str, Any]],
    opts: pulumi.ResourceOptions,
    *,
    init_containers: Sequence[dict[str, Any]] = (),
    volumes: Sequence[dict[str, Any]] = (),
    deadline_seconds: int = 6 * 3600,
) -> k8s.batch.v1.CronJob:
    """A CronJob that never overlaps itself, retries twice, and keeps a short history of runs."""
    object_name = bounded_name(_CRONJOB_NAME_LIMIT, name)
    labels = kw.labels(object_name, "job", "multidc")
    pod = kw.pod_spec(containers, restart_policy="OnFailure", init_containers=list(init_containers))
    pod["volumes"] = [*pod["volumes"], *volumes]
    return k8s.batch.v1.CronJob(
        name,
        metadata={"name": object_name, "namespace": namespace, "labels": labels},
        spec={
            "schedule": schedule,
            "concurrency_policy": "Forbid",
            "successful_jobs_history_limit": 3,
            "failed_jobs_history_limit": 3,
            "job_template": {
                "spec": {
                    "backoff_limit": 2,
                    "active_deadline_seconds": deadline_seconds,
                    "template": {"metadata": {"labels": labels}, "spec": pod},
                },
            },
        },
        opts=opts,
    )
