"""An S3 bucket on any S3-compatible endpoint, as a Pulumi dynamic resource on boto3.

Why a dynamic provider: the OpenStack clouds multidc targets (VK Cloud, QazCloud, on-prem
Ceph RGW) expose S3-compatible endpoints that no Pulumi package declares buckets on.

The provider object is pickled by dill into the stack's state and unpickled by the
dynamic-provider host, so it holds no state at all: every method builds its boto3 client
from the resource's own properties. That also means the ``multidc`` package must be
importable by the Python that runs ``pulumi up`` (it is, from the project venv).

Inputs the CrossGuard pack reads, by name, on ``pulumi-python:dynamic:Resource``:
``bucket``, ``endpoint``, ``region``, ``versioning``, ``object_lock_mode``,
``object_lock_days``, ``lifecycle_days``, ``noncurrent_days``, ``public`` (always False),
``force_destroy``, ``tags``, ``policy`` (the bucket policy, canonical JSON, or None). ``access_key`` and ``secret_key`` are secrets; they never
appear in errors, and the ``Bucket`` resource marks them secret in state.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlparse

import boto3
import pulumi
import pulumi.dynamic as dyn
from botocore.config import Config
from botocore.exceptions import ClientError

from multidc.components.bucket_state import (
    all_versions,
    canonical_policy,
    error_code,
    lifecycle_rules,
    locked_versions,
    read_bucket_state,
)

LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
SECRET_INPUTS = ("access_key", "secret_key")
# Changing any of these needs a new bucket. Bucket name and endpoint identify it; object lock
# can be switched on only when a bucket is created (S3-compatible stores other than AWS do
# not support enabling it later) and can never be switched off.
REPLACE_ON_CHANGE = ("bucket", "endpoint", "region")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class BucketProviderError(RuntimeError):
    """A bucket operation failed; the message names the bucket, endpoint and fix."""


class BucketLockedError(BucketProviderError):
    """The bucket holds object versions under an unexpired object lock and cannot be deleted."""


@dataclass(frozen=True)
class BucketArgs:
    """What a bucket on one site's S3 endpoint should look like.

    ``lifecycle_days`` expires current versions (leave None for data you keep);
    ``noncurrent_days`` expires overwritten and deleted versions, and so bounds how far back a
    restore from versions can go: keep it longer than the time to detect an attack.
    ``object_lock_mode``/``object_lock_days`` set the default retention of every new object
    version; lock needs versioning. Buckets are never public: there is no switch for it.
    ``policy`` is the bucket policy (a JSON document, e.g. the archive vault's deny to its
    writer); None removes one.
    """

    bucket: str
    endpoint: str
    access_key: pulumi.Input[str] = field(repr=False)
    secret_key: pulumi.Input[str] = field(repr=False)
    region: str = "us-east-1"
    versioning: bool = True
    lifecycle_days: Optional[int] = None
    noncurrent_days: Optional[int] = None
    object_lock_mode: Optional[str] = None
    object_lock_days: Optional[int] = None
    force_destroy: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    policy: Optional[pulumi.Input[str]] = None

    def to_props(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "versioning": self.versioning,
            "lifecycle_days": self.lifecycle_days,
            "noncurrent_days": self.noncurrent_days,
            "object_lock_mode": self.object_lock_mode,
            "object_lock_days": self.object_lock_days,
            "public": False,
            "force_destroy": self.force_destroy,
            "tags": dict(self.tags),
            "policy": self.policy,
        }


def bucket_id(endpoint: str, bucket: str) -> str:
    """The resource ID: unique across sites because it carries the endpoint."""
    return f"{endpoint.rstrip('/')}/{bucket}"


def bucket_arn(endpoint: str, bucket: str) -> str:
    """An ARN-like name, ``arn:multidc:s3:<endpoint host>::<bucket>``, for policies and docs."""
    host = urlparse(endpoint).netloc or endpoint
    return f"arn:multidc:s3:{host}::{bucket}"


def _plain(value: Any) -> Any:
    """The value inside a Pulumi RPC secret wrapper (the engine usually strips them already)."""
    from pulumi.runtime import rpc

    return rpc.unwrap_rpc_secret(value)


def _client(props: Mapping[str, Any]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=props["endpoint"],
        region_name=props.get("region") or "us-east-1",
        aws_access_key_id=_plain(props["access_key"]),
        aws_secret_access_key=_plain(props["secret_key"]),
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        ),
    )


def _where(props: Mapping[str, Any]) -> str:
    return f"bucket {props.get('bucket')!r} on {props.get('endpoint')}"


def _is_known(value: Any) -> bool:
    """False for values Pulumi has not resolved yet (preview) and the unknown sentinel."""
    from pulumi.runtime import rpc

    return value is not None and value != rpc.UNKNOWN


class BucketProvider(dyn.ResourceProvider):
    """Create, read, diff, update and delete one S3 bucket through boto3."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        failures: list[dyn.CheckFailure] = []

        # During preview some inputs are not known yet; a rule that reads one is skipped,
        # and `pulumi up` checks again once they are.
        unknown = {k for k, v in news.items() if v is not None and not _is_known(v)}

        def fail(prop: str, reason: str, *reads: str) -> None:
            if not unknown & {prop, *reads}:
                failures.append(dyn.CheckFailure(prop, reason))

        name = news.get("bucket")
        if isinstance(name, str) and not _BUCKET_NAME.match(name):
            fail("bucket", f"{name!r} is not a valid S3 bucket name: use 3-63 lowercase "
                           "letters, digits, dots or hyphens, starting and ending alphanumeric")
        endpoint = news.get("endpoint")
        if isinstance(endpoint, str) and urlparse(endpoint).scheme not in ("http", "https"):
            fail("endpoint", f"{endpoint!r} is not an http(s) URL; give the site's S3 endpoint, "
                             "e.g. https://hb.kz-ast.example.cloud")
        for secret in SECRET_INPUTS:
            value = news.get(secret)
            if isinstance(value, str) and not value:
                fail(secret, f"{secret} is empty; pass the site's S3 credentials as a secret")
        if news.get("public") not in (None, False):
            fail("public", "buckets are never public in multidc; serve public content through "
                           "a CDN or a signed-URL service instead")
        mode = news.get("object_lock_mode")
        days = news.get("object_lock_days")
        if isinstance(mode, str) and mode not in LOCK_MODES:
            fail("object_lock_mode", f"{mode!r} is not an object lock mode; use COMPLIANCE "
                                     "(nobody can delete before expiry) or GOVERNANCE")
        if isinstance(mode, str) and not (isinstance(days, int) and days >= 1):
            fail("object_lock_days", "object lock needs object_lock_days >= 1 (the default "
                                     "retention of every new object version)", "object_lock_mode")
        if mode is None and days is not None:
            fail("object_lock_days", "object_lock_days is set but object_lock_mode is not; "
                                     "set object_lock_mode to COMPLIANCE or GOVERNANCE", "object_lock_mode")
        if isinstance(mode, str) and news.get("versioning") is False:
            fail("versioning", "object lock requires versioning; set versioning=True", "object_lock_mode")
        policy = news.get("policy")
        if isinstance(policy, str):
            try:
                statements = json.loads(policy).get("Statement")
            except (ValueError, AttributeError):
                statements = None
            if not isinstance(statements, list) or not statements:
                fail("policy", "policy is not a bucket policy: give a JSON document with a non-empty "
                               '"Statement" list (or None for no policy)')
        for prop in ("lifecycle_days", "noncurrent_days"):
            value = news.get(prop)
            if value is not None and _is_known(value) and not (isinstance(value, int) and value >= 1):
                fail(prop, f"{prop} must be a whole number of days >= 1 or None, got {value!r}")
        return dyn.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """Replace on a new name, endpoint or region, or on switching object lock on or off.

        Changing the lock's mode or days on a bucket that already has a lock is an in-place
        update: it changes the default retention of new versions; versions already written keep
        theirs. Replacement reuses the name, so the old bucket is deleted first, which fails
        (and so stops the replacement) while it holds data: replacing a bucket never silently
        drops objects.
        """
        keys = set(BucketArgs.__dataclass_fields__) | {"public"}
        changed = sorted(k for k in keys if _plain(olds.get(k)) != _plain(news.get(k)))
        replaces = [k for k in changed if k in REPLACE_ON_CHANGE]
        if bool(olds.get("object_lock_mode")) != bool(news.get("object_lock_mode")):
            replaces.append("object_lock_mode")
        same_name = olds.get("bucket") == news.get("bucket") and olds.get("endpoint") == news.get("endpoint")
        return dyn.DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[],
            delete_before_replace=bool(replaces) and same_name,
        )

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        s3 = _client(props)
        name = props["bucket"]
        kwargs: dict[str, Any] = {"Bucket": name}
        region = props.get("region") or "us-east-1"
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if props.get("object_lock_mode"):
            kwargs["ObjectLockEnabledForBucket"] = True
        already_exists = BucketProviderError(
            f"{_where(props)} already exists; multidc will not adopt a bucket it did not "
            "create (destroy would delete its data). Pick another name or remove it first."
        )
        # us-east-1 (and moto) answer 200 to CreateBucket on a bucket you already own, so ask first.
        if _bucket_exists(s3, props):
            raise already_exists
        try:
            s3.create_bucket(**kwargs)
        except ClientError as error:
            if error_code(error) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise already_exists from None
            raise BucketProviderError(f"cannot create {_where(props)}: {error}") from None
        try:
            self._apply(s3, props, created=True)
        except Exception:
            # Create must be transactional: a half-configured bucket (say, versioning off)
            # must not survive as if it were what the spec asked for.
            try:
                s3.delete_bucket(Bucket=name)
            except ClientError:
                pass
            raise
        return dyn.CreateResult(bucket_id(props["endpoint"], name), self._outs(props))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """The bucket's live state on its endpoint; an empty ID if it is gone."""
        s3 = _client(props)
        name = props["bucket"]
        if not _bucket_exists(s3, props):
            return dyn.ReadResult("", {})
        live = dict(props)
        live.update(read_bucket_state(s3, name))
        return dyn.ReadResult(id_, self._outs(live))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        self._apply(_client(news), news, created=False, olds=olds)
        return dyn.UpdateResult(self._outs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Delete the bucket; refuse while it holds data unless ``force_destroy``.

        With ``force_destroy`` every version and delete marker goes first, except that a
        bucket holding any version under an unexpired lock is refused before anything is
        deleted: that refusal is what the lock is for.
        """
        s3 = _client(props)
        name = props["bucket"]
        try:
            versions = all_versions(s3, name)
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchBucket"):
                return
            raise BucketProviderError(f"cannot list {_where(props)}: {error}") from None
        if versions and not props.get("force_destroy"):
            raise BucketProviderError(
                f"refusing to delete {_where(props)}: it holds {len(versions)} object versions "
                "or delete markers. Copy what you need, then set force_destroy=True on the "
                "bucket (or empty it yourself) and run again."
            )
        locked = locked_versions(s3, name, versions)
        if locked:
            key, version_id, until = locked[0]
            raise BucketLockedError(
                f"refusing to delete {_where(props)}: {len(locked)} object versions are under "
                f"object lock (e.g. {key!r} version {version_id} until {until.isoformat()}). "
                "Locked versions cannot be deleted before their retention ends; that is the "
                "point of the lock. Remove the bucket from the stack with `pulumi state delete` "
                "and let its lifecycle expire it, or wait until the retention date."
            )
        for start in range(0, len(versions), 1000):
            batch = [{"Key": k, "VersionId": v} for k, v in versions[start:start + 1000]]
            result = s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
            if result.get("Errors"):
                first = result["Errors"][0]
                raise BucketProviderError(
                    f"cannot empty {_where(props)}: {len(result['Errors'])} versions were not "
                    f"deleted (e.g. {first.get('Key')!r}: {first.get('Code')})"
                )
        try:
            s3.delete_bucket(Bucket=name)
        except ClientError as error:
            raise BucketProviderError(f"cannot delete {_where(props)}: {error}") from None

    def _apply(
        self,
        s3: Any,
        props: Mapping[str, Any],
        *,
        created: bool,
        olds: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Make the bucket's settings match ``props``; each call below is idempotent."""
        name = props["bucket"]
        olds = olds or {}
        try:
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            if props.get("versioning") or props.get("object_lock_mode"):
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            elif not created and olds.get("versioning"):
                # S3 cannot turn versioning off, only suspend it; old versions stay.
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
            if props.get("object_lock_mode"):
                s3.put_object_lock_configuration(
                    Bucket=name,
                    ObjectLockConfiguration={
                        "ObjectLockEnabled": "Enabled",
                        "Rule": {"DefaultRetention": {
                            "Mode": props["object_lock_mode"],
                            "Days": int(props["object_lock_days"]),
                        }},
                    },
                )
            rules = lifecycle_rules(props.get("lifecycle_days"), props.get("noncurrent_days"))
            if rules:
                s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
            elif not created:
                s3.delete_bucket_lifecycle(Bucket=name)
            if props.get("policy"):
                s3.put_bucket_policy(Bucket=name, Policy=canonical_policy(props["policy"]))
            elif not created and olds.get("policy"):
                s3.delete_bucket_policy(Bucket=name)
            tags = props.get("tags") or {}
            if tags:
                s3.put_bucket_tagging(
                    Bucket=name,
                    Tagging={"TagSet": [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())]},
                )
            elif not created:
                s3.delete_bucket_tagging(Bucket=name)
        except ClientError as error:
            raise BucketProviderError(f"cannot configure {_where(props)}: {error}") from None

    @staticmethod
    def _outs(props: Mapping[str, Any]) -> dict[str, Any]:
        outs = {k: props.get(k) for k in BucketArgs.__dataclass_fields__}
        outs["public"] = bool(props.get("public", False))
        outs["arn"] = bucket_arn(props["endpoint"], props["bucket"])
        return outs


def _bucket_exists(s3: Any, props: Mapping[str, Any]) -> bool:
    try:
        s3.head_bucket(Bucket=props["bucket"])
        return True
    except ClientError as error:
        if error_code(error) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise BucketProviderError(f"cannot read {_where(props)}: {error}") from None


class Bucket(dyn.Resource):
    """A bucket on one site's S3-compatible endpoint (type ``pulumi-python:dynamic:Resource``)."""

    bucket: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    region: pulumi.Output[str]
    arn: pulumi.Output[str]
    versioning: pulumi.Output[bool]
    object_lock_mode: pulumi.Output[Optional[str]]
    object_lock_days: pulumi.Output[Optional[int]]
    lifecycle_days: pulumi.Output[Optional[int]]
    noncurrent_days: pulumi.Output[Optional[int]]
    public: pulumi.Output[bool]
    policy: pulumi.Output[Optional[str]]

    def __init__(self, name: str, args: BucketArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = args.to_props()
        for secret in SECRET_INPUTS:
            props[secret] = pulumi.Output.secret(props[secret])
        props["arn"] = None
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_INPUTS))
        super().__init__(BucketProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret_outputs))
