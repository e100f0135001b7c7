"""The copy of a replicated bucket from one site into another, pulled by the destination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import pulumi

from multidc import spec
from multidc.components.bucket import ObjectBucket
from multidc.components.common import cron_job, k8s_name, namespace, rclone_job_container, s3_credentials_secret
from multidc.components.kubernetes import KubernetesCluster
from multidc.components.site import Site
from multidc.protection.rclone import CopyMode
from multidc.contract import BUCKET_COPY

# Copy intervals a cron expression can state evenly, in minutes.
_INTERVALS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440)


def copy_schedule(rpo: timedelta) -> str:
    """A cron schedule that runs at least twice per RPO, so one failed run is retried within it."""
    budget = rpo.total_seconds() / 60 / 2
    minutes = max((step for step in _INTERVALS if step <= budget), default=1)
    if minutes < 60:
        return f"*/{minutes} * * * *"
    if minutes < 1440:
        return f"0 */{minutes // 60} * * *"
    return "0 0 * * *"


@dataclass(frozen=True)
class BucketCopyArgs:
    """One direction of a replicated bucket; ``runner`` is a cluster placement in the destination site."""

    system: spec.System
    source: ObjectBucket
    source_site: Site
    destination: ObjectBucket
    destination_site: Site
    runner: KubernetesCluster


class BucketCopy(pulumi.ComponentResource):
    """An rclone CronJob in the destination site copying new and changed objects from the source."""

    schedule: str
    system: str
    source_site: str
    destination_site: str

    def __init__(self, name: str, args: BucketCopyArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system = args.system
        schedule = copy_schedule(system.rpo)
        contract = {
            "system": system.name, "source_site": args.source_site.name,
            "destination_site": args.destination_site.name, "site": args.destination_site.name,
            "schedule": schedule, "mode": CopyMode.copy.value, "runner": args.runner.placement,
            "source_bucket": args.source.bucket, "destination_bucket": args.destination.bucket,
        }
        super().__init__(BUCKET_COPY, name, contract, opts)
        self.schedule = schedule
        self.system, self.source_site, self.destination_site = system.name, args.source_site.name, \
            args.destination_site.name
        in_runner = pulumi.ResourceOptions(parent=self, provider=args.runner.provider)
        jobs_namespace = namespace(f"{name}-namespace", k8s_name("copy", system.name, "from", args.source_site.name),
                                   "restricted", in_runner)
        source_keys = s3_credentials_secret(
            f"{name}-source-keys", jobs_namespace, args.source_site.s3_access_key, args.source_site.s3_secret_key,
            in_runner).metadata.name
        destination_keys = s3_credentials_secret(
            f"{name}-destination-keys", jobs_namespace, args.destination_site.s3_access_key,
            args.destination_site.s3_secret_key, in_runner).metadata.name
        cron_job(f"{name}-job", jobs_namespace, self.schedule,
                 [rclone_job_container(args.source.location(source_keys), args.destination.location(destination_keys),
                                    mode=CopyMode.copy)],
                 in_runner)
        self.register_outputs({**contract, "schedule": self.schedule})
