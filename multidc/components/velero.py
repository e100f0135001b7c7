"""Velero in one cluster, writing each backed-up system's backups to its offsite staging bucket.

Velero cannot write to an object-locked bucket, so it writes to a plain staging bucket in
the offsite site, from which the BackupTarget's job copies everything into the locked
vault. One Velero per cluster: a cluster that runs two backed-up systems (a cluster and
the ML platform on it) gets one storage location and one set of schedules per system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
from croniter import croniter

from multidc import spec
from multidc.components.backup import VeleroTarget
from multidc.components.common import HelmChart, helm_release, k8s_name, namespace
from multidc.components.kubernetes import KubernetesCluster
from multidc import contract

VELERO = HelmChart("velero", "https://vmware-tanzu.github.io/helm-charts", "8.0.0")  # Velero 1.15
AWS_PLUGIN_IMAGE = "velero/velero-plugin-for-aws:v1.11.0"
VELERO_NAMESPACE = "velero"
VELERO_USER = 65532  # the distroless image's nonroot user


def gfs_schedules(schedule: str, retention: spec.Retention) -> dict[str, tuple[str, str]]:
    """Grandfather-father-son: the policy's schedule kept ``daily`` days, plus a weekly (Sunday)
    and a monthly (1st) backup at the schedule's first time of day, kept ``weekly`` weeks and
    ``monthly`` months. Returns ``{suffix: (cron, ttl)}``; a zero count drops its schedule."""
    first = croniter(schedule, datetime(2024, 1, 1)).get_next(datetime)
    at = f"{first.minute} {first.hour}"
    candidates = {
        "regular": (schedule, retention.daily * 24),
        "weekly": (f"{at} * * 0", retention.weekly * 7 * 24),
        "monthly": (f"{at} 1 * *", retention.monthly * 31 * 24),
    }
    return {suffix: (cron, f"{hours}h0m0s") for suffix, (cron, hours) in candidates.items() if hours > 0}


@dataclass(frozen=True)
class VeleroArgs:
    """The cluster to install Velero in and the systems it backs up there."""

    cluster: KubernetesCluster
    targets: tuple[VeleroTarget, ...]


class Velero(pulumi.ComponentResource):
    """The official Velero chart with one storage location and GFS schedules per target."""

    def __init__(self, name: str, args: VeleroArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        cluster = args.cluster
        schedules = {target.system: gfs_schedules(target.schedule, target.retention) for target in args.targets}
        props = {
            "site": cluster.site, "cluster": cluster.placement, "chart": f"{VELERO.chart}@{VELERO.version}",
            "targets": [{
                "system": target.system, "offsite_site": target.offsite.name, "bucket": target.bucket,
                "namespaces": list(target.namespaces),
                "schedules": {suffix: {"schedule": cron, "ttl": ttl}
                              for suffix, (cron, ttl) in schedules[target.system].items()},
            } for target in args.targets],
        }
        super().__init__(contract.VELERO, name, props, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        # The node agent reads pod volumes from the host: privileged by necessity.
        velero_namespace = namespace(f"{name}-namespace", VELERO_NAMESPACE, "privileged", in_cluster)

        locations: list[dict[str, Any]] = []
        velero_schedules: dict[str, Any] = {}
        for index, target in enumerate(args.targets):
            location = k8s_name(target.system)
            credentials = k8s.core.v1.Secret(
                f"{name}-{target.system}-offsite-keys",
                metadata={"name": k8s_name(target.system, "offsite-keys"), "namespace": velero_namespace},
                string_data={"cloud": pulumi.Output.secret(pulumi.Output.format(
                    "[default]\naws_access_key_id={0}\naws_secret_access_key={1}\n",
                    target.offsite.s3_access_key, target.offsite.s3_secret_key))},
                opts=in_cluster)
            locations.append({
                "name": location,
                "default": index == 0,
                "provider": "aws",
                "bucket": target.bucket,
                "prefix": cluster.placement,
                "credential": {"name": credentials.metadata.name, "key": "cloud"},
                "config": {
                    "region": "us-east-1",
                    "s3ForcePathStyle": "true",
                    "s3Url": target.offsite.s3_endpoint,
                    # S3-compatible stores reject the plugin's default CRC32 checksums.
                    "checksumAlgorithm": "",
                },
            })
            for suffix, (cron, ttl) in schedules[target.system].items():
                velero_schedules[k8s_name(target.system, suffix)] = {
                    "disabled": False,
                    "schedule": cron,
                    "useOwnerReferencesInBackup": False,
                    "template": {"ttl": ttl, "storageLocation": location,
                                 "includedNamespaces": list(target.namespaces)},
                }

        values = {
            "initContainers": [{
                "name": "velero-plugin-for-aws",
                "image": AWS_PLUGIN_IMAGE,
                "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
            }],
            "credentials": {"useSecret": False},  # each location names its own Secret
            "snapshotsEnabled": False,
            "deployNodeAgent": True,
            "configuration": {
                "defaultVolumesToFsBackup": True,
                "backupStorageLocation": locations,
                "volumeSnapshotLocation": [],
            },
            "schedules": velero_schedules,
            "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                          "limits": {"cpu": "1", "memory": "1Gi"}},
            "nodeAgent": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                        "limits": {"cpu": "1", "memory": "2Gi"}}},
            "podSecurityContext": {"runAsNonRoot": True, "runAsUser": VELERO_USER,
                                   "seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}},
        }
        helm_release(f"{name}-release", VELERO, velero_namespace, values, pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[target.depends_on for target in args.targets])))
        self.register_outputs(props)
