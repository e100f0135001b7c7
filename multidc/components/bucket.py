"""A live bucket of one system on one site's S3-compatible endpoint.

The bucket is a boto3 dynamic resource (``bucket_provider.Bucket``): dynamic resources run
in-process and take no provider, so a bucket is bound to its site by its ``endpoint`` and
that site's EC2 credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from multidc import spec
from multidc.components.bucket_provider import Bucket, BucketArgs
from multidc.components.common import bucket_name, placement_props
from multidc.components.site import Site
from multidc.protection.rclone import S3Location
from multidc.contract import OBJECT_BUCKET, TAG_SITE, TAG_SYSTEM

# Overwritten and deleted versions stay this long at least: longer than it takes to notice
# an attack or a bad deploy, so the live bucket itself can be rolled back.
MIN_NONCURRENT_DAYS = 30


def site_bucket(resource_name: str, site: Site, bucket: str, parent: pulumi.Resource, **settings: Any) -> Bucket:
    """A versioned bucket on ``site``'s endpoint with that site's keys."""
    return Bucket(resource_name, BucketArgs(
        bucket=bucket, endpoint=site.s3_endpoint, access_key=site.s3_access_key, secret_key=site.s3_secret_key,
        versioning=True, **settings), opts=pulumi.ResourceOptions(parent=parent))


@dataclass(frozen=True)
class ObjectBucketArgs:
    """A bucket system's placement in one site."""

    platform: spec.Platform
    system: spec.System
    site: Site


class ObjectBucket(pulumi.ComponentResource):
    """The live bucket: versioned, never public, noncurrent versions kept for the retention."""

    bucket: str
    endpoint: str
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: ObjectBucketArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, site = args.system, args.site
        bucket = bucket_name(args.platform.name, system.name, site.name)
        noncurrent_days = max(MIN_NONCURRENT_DAYS, system.backup.retention.daily if system.backup else 0)
        contract = {
            **placement_props(args.platform, system, site.name),
            "bucket": bucket, "endpoint": site.s3_endpoint, "versioning": True, "noncurrent_days": noncurrent_days,
        }
        super().__init__(OBJECT_BUCKET, name, contract, opts)
        # Attributes after super().__init__: Pulumi sets one Output attribute per prop key there.
        self.bucket, self.endpoint = bucket, site.s3_endpoint
        live = site_bucket(f"{name}-bucket", site, self.bucket, self, noncurrent_days=noncurrent_days,
                           tags={TAG_SYSTEM: system.name, TAG_SITE: site.name})
        self.arn = live.arn
        self.register_outputs({**contract, "bucket": self.bucket, "endpoint": self.endpoint, "arn": self.arn})

    def location(self, secret_name: str) -> S3Location:
        """This bucket as rclone reads it from a job whose S3 keys are in ``secret_name``."""
        return S3Location(endpoint=self.endpoint, bucket=self.bucket, secret_name=secret_name)
