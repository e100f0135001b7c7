"""What an S3 endpoint says about a bucket: its settings, policy and versions (read by the bucket provider).

Separate from the provider so that its reading of an endpoint can be used, and tested, without
a Pulumi engine: ``read_bucket_state`` is how ``refresh`` sees drift, ``locked_versions`` is why a
delete of a locked bucket is refused before anything is removed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Optional

from botocore.exceptions import ClientError

LIFECYCLE_RULE_ID = "multidc-expiry"
"""The one lifecycle rule multidc manages; rules of other owners are left alone."""


def canonical_policy(document: Any) -> str:
    """A bucket policy as one canonical JSON text (sorted keys, no spaces), so that diff compares meaning."""
    if isinstance(document, str):
        document = json.loads(document)
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def lifecycle_rules(lifecycle_days: Optional[int], noncurrent_days: Optional[int]) -> list[dict[str, Any]]:
    """The single lifecycle rule multidc manages, or no rule when neither expiry is set."""
    if not lifecycle_days and not noncurrent_days:
        return []
    rule: dict[str, Any] = {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""}}
    if lifecycle_days:
        rule["Expiration"] = {"Days": int(lifecycle_days)}
    if noncurrent_days:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(noncurrent_days)}
    return [rule]


def read_bucket_state(s3: Any, name: str) -> dict[str, Any]:
    """Versioning, object lock, lifecycle, tags and public access as the endpoint reports them."""
    state: dict[str, Any] = {}
    state["versioning"] = s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
    state["object_lock_mode"] = None
    state["object_lock_days"] = None
    try:
        lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
        retention = lock.get("Rule", {}).get("DefaultRetention", {})
        if lock.get("ObjectLockEnabled") == "Enabled" and retention:
            state["object_lock_mode"] = retention.get("Mode")
            state["object_lock_days"] = retention.get("Days") or None
    except ClientError as error:
        if "ObjectLockConfigurationNotFound" not in error_code(error):
            raise
    state["lifecycle_days"] = None
    state["noncurrent_days"] = None
    try:
        for rule in s3.get_bucket_lifecycle_configuration(Bucket=name).get("Rules", []):
            if rule.get("ID") == LIFECYCLE_RULE_ID:
                state["lifecycle_days"] = rule.get("Expiration", {}).get("Days")
                state["noncurrent_days"] = rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
    except ClientError as error:
        if error_code(error) != "NoSuchLifecycleConfiguration":
            raise
    try:
        state["tags"] = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    except ClientError as error:
        if error_code(error) != "NoSuchTagSet":
            raise
        state["tags"] = {}
    try:
        state["policy"] = canonical_policy(s3.get_bucket_policy(Bucket=name)["Policy"])
    except ClientError as error:
        if error_code(error) != "NoSuchBucketPolicy":
            raise
        state["policy"] = None
    try:
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        state["public"] = not all(block.values())
    except ClientError as error:
        if error_code(error) != "NoSuchPublicAccessBlockConfiguration":
            raise
        state["public"] = True
    return state


def all_versions(s3: Any, name: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.append((entry["Key"], entry.get("VersionId") or "null"))
    return found


def locked_versions(s3: Any, name: str, versions: list[tuple[str, str]]) -> list[tuple[str, str, dt.datetime]]:
    """Versions whose retention date is still in the future (delete markers are never locked)."""
    try:
        s3.get_object_lock_configuration(Bucket=name)
    except ClientError:
        return []
    now = dt.datetime.now(dt.timezone.utc)
    locked = []
    for key, version_id in versions:
        try:
            head = s3.head_object(Bucket=name, Key=key, VersionId=version_id)
        except ClientError:
            continue  # a delete marker: HEAD on it is 405/404
        until = head.get("ObjectLockRetainUntilDate")
        if until is not None and until > now:
            locked.append((key, version_id, until))
        elif head.get("ObjectLockLegalHoldStatus") == "ON":
            locked.append((key, version_id, now))
    return locked
