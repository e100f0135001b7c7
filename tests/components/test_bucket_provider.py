"""The bucket dynamic provider, driven directly against a real moto server process.

Assertions read the endpoint's state back through boto3, never the provider's echo.
"""

import base64
import datetime as dt
import itertools
import json

import dill
import pytest
from botocore.exceptions import ClientError
from pulumi.dynamic.dynamic import serialize_provider

from multidc.components.bucket_provider import (
    BucketArgs,
    BucketLockedError,
    BucketProvider,
    BucketProviderError,
)
from multidc.local.s3 import LocalS3

_names = (f"bucket-{n}" for n in itertools.count())


@pytest.fixture(scope="module")
def site():
    with LocalS3(name="provider-site") as local:
        yield local


@pytest.fixture
def provider():
    return BucketProvider()


def props_for(site, **overrides):
    args = dict(
        bucket=next(_names),
        endpoint=site.endpoint_url,
        access_key=site.access_key,
        secret_key=site.secret_key,
    )
    args.update(overrides)
    return BucketArgs(**args).to_props()


def test_create_enables_versioning_on_the_server(site, provider):
    props = props_for(site, versioning=True)
    provider.create(props)
    status = site.client().get_bucket_versioning(Bucket=props["bucket"]).get("Status")
    assert status == "Enabled"


def test_create_always_blocks_public_access(site, provider):
    props = props_for(site)
    provider.create(props)
    block = site.client().get_public_access_block(Bucket=props["bucket"])["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_create_with_compliance_lock_sets_default_retention(site, provider):
    props = props_for(site, object_lock_mode="COMPLIANCE", object_lock_days=7)
    provider.create(props)
    lock = site.client().get_object_lock_configuration(Bucket=props["bucket"])["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert lock["Rule"]["DefaultRetention"]["Days"] == 7


def test_create_sets_current_and_noncurrent_expiry(site, provider):
    props = props_for(site, lifecycle_days=30, noncurrent_days=14)
    provider.create(props)
    rules = site.client().get_bucket_lifecycle_configuration(Bucket=props["bucket"])["Rules"]
    assert len(rules) == 1
    assert rules[0]["Expiration"] == {"Days": 30}
    assert rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 14


def test_create_tags_the_bucket(site, provider):
    props = props_for(site, tags={"site": "astana", "system": "core"})
    provider.create(props)
    tag_set = site.client().get_bucket_tagging(Bucket=props["bucket"])["TagSet"]
    assert {t["Key"]: t["Value"] for t in tag_set} == {"site": "astana", "system": "core"}


def test_create_returns_arn_like_id_and_no_plaintext_beyond_the_secret_inputs(site, provider):
    props = props_for(site)
    result = provider.create(props)
    assert result.id == f"{site.endpoint_url}/{props['bucket']}"
    assert result.outs["arn"] == f"arn:multidc:s3:{site.endpoint_url.split('//')[1]}::{props['bucket']}"
    # Credentials stay only under their own (secret-marked) names; delete needs them.
    leaked = {k for k, v in result.outs.items() if v == site.secret_key and k != "secret_key"}
    assert leaked == set()


def test_create_refuses_to_adopt_an_existing_bucket(site, provider):
    props = props_for(site)
    site.client().create_bucket(Bucket=props["bucket"])
    with pytest.raises(BucketProviderError, match="will not adopt"):
        provider.create(props)


def test_read_reports_the_live_state_after_drift(site, provider):
    props = props_for(site, versioning=True, lifecycle_days=10)
    result = provider.create(props)
    site.client().put_bucket_versioning(Bucket=props["bucket"], VersioningConfiguration={"Status": "Suspended"})
    site.client().delete_bucket_lifecycle(Bucket=props["bucket"])
    read = provider.read(result.id, result.outs)
    assert read.outs["versioning"] is False
    assert read.outs["lifecycle_days"] is None


def test_read_of_a_deleted_bucket_returns_empty_id(site, provider):
    props = props_for(site)
    result = provider.create(props)
    site.client().delete_bucket(Bucket=props["bucket"])
    assert provider.read(result.id, result.outs).id == ""


def test_diff_of_switching_object_lock_on_returns_replace(site, provider):
    olds = props_for(site)
    news = dict(olds, object_lock_mode="COMPLIANCE", object_lock_days=30)
    diff = provider.diff("id", olds, news)
    assert diff.changes is True
    assert "object_lock_mode" in diff.replaces
    assert diff.delete_before_replace is True


def test_diff_of_switching_object_lock_off_returns_replace(site, provider):
    olds = props_for(site, object_lock_mode="GOVERNANCE", object_lock_days=3)
    news = dict(olds, object_lock_mode=None, object_lock_days=None)
    assert "object_lock_mode" in provider.diff("id", olds, news).replaces


def test_diff_of_lock_days_on_a_locked_bucket_is_an_update(site, provider):
    olds = props_for(site, object_lock_mode="COMPLIANCE", object_lock_days=3)
    news = dict(olds, object_lock_days=30)
    diff = provider.diff("id", olds, news)
    assert diff.changes is True
    assert diff.replaces == []


def test_diff_of_new_endpoint_returns_replace(site, provider):
    olds = props_for(site)
    news = dict(olds, endpoint="http://127.0.0.1:1")
    assert provider.diff("id", olds, news).replaces == ["endpoint"]


def test_diff_ignores_output_only_fields(site, provider):
    props = props_for(site)
    outs = provider.create(props).outs
    diff = provider.diff("id", dict(outs, __provider="p"), dict(props, __provider="p"))
    assert diff.changes is False


def test_update_changes_lock_retention_and_lifecycle_on_the_server(site, provider):
    olds = props_for(site, object_lock_mode="GOVERNANCE", object_lock_days=3, lifecycle_days=9)
    provider.create(olds)
    news = dict(olds, object_lock_mode="COMPLIANCE", object_lock_days=30, lifecycle_days=None)
    provider.update("id", olds, news)
    s3 = site.client()
    lock = s3.get_object_lock_configuration(Bucket=olds["bucket"])["ObjectLockConfiguration"]
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 30)
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=olds["bucket"])


def test_update_suspends_versioning_when_turned_off(site, provider):
    olds = props_for(site, versioning=True)
    provider.create(olds)
    provider.update("id", olds, dict(olds, versioning=False))
    assert site.client().get_bucket_versioning(Bucket=olds["bucket"])["Status"] == "Suspended"


def test_delete_removes_an_empty_bucket(site, provider):
    props = props_for(site)
    result = provider.create(props)
    provider.delete(result.id, result.outs)
    names = [b["Name"] for b in site.client().list_buckets()["Buckets"]]
    assert props["bucket"] not in names


def test_delete_refuses_a_bucket_with_data_without_force_destroy(site, provider):
    props = props_for(site)
    result = provider.create(props)
    site.client().put_object(Bucket=props["bucket"], Key="k", Body=b"keep me")
    with pytest.raises(BucketProviderError, match="force_destroy=True"):
        provider.delete(result.id, result.outs)
    assert site.client().get_object(Bucket=props["bucket"], Key="k")["Body"].read() == b"keep me"


def test_delete_with_force_destroy_removes_all_versions_and_the_bucket(site, provider):
    props = props_for(site, force_destroy=True)
    result = provider.create(props)
    s3 = site.client()
    s3.put_object(Bucket=props["bucket"], Key="k", Body=b"v1")
    s3.put_object(Bucket=props["bucket"], Key="k", Body=b"v2")
    s3.delete_object(Bucket=props["bucket"], Key="k")
    provider.delete(result.id, result.outs)
    assert props["bucket"] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_of_a_bucket_with_locked_versions_fails_and_deletes_nothing(site, provider):
    props = props_for(site, object_lock_mode="COMPLIANCE", object_lock_days=1, force_destroy=True)
    result = provider.create(props)
    s3 = site.client()
    s3.put_object(Bucket=props["bucket"], Key="unlocked-by-nobody", Body=b"evidence")
    with pytest.raises(BucketLockedError, match="under object lock"):
        provider.delete(result.id, result.outs)
    versions = s3.list_object_versions(Bucket=props["bucket"]).get("Versions", [])
    assert [v["Key"] for v in versions] == ["unlocked-by-nobody"]


def test_delete_of_an_already_deleted_bucket_succeeds(site, provider):
    props = props_for(site)
    result = provider.create(props)
    site.client().delete_bucket(Bucket=props["bucket"])
    provider.delete(result.id, result.outs)  # raises if it does not take "already gone" as done
    assert props["bucket"] not in [b["Name"] for b in site.client().list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    "overrides, prop",
    [
        ({"bucket": "Not_Valid"}, "bucket"),
        ({"endpoint": "s3.example.com"}, "endpoint"),
        ({"object_lock_mode": "FOREVER", "object_lock_days": 1}, "object_lock_mode"),
        ({"object_lock_mode": "COMPLIANCE"}, "object_lock_days"),
        ({"object_lock_mode": "COMPLIANCE", "object_lock_days": 1, "versioning": False}, "versioning"),
        ({"lifecycle_days": 0}, "lifecycle_days"),
    ],
)
def test_check_rejects_invalid_inputs(site, provider, overrides, prop):
    news = props_for(site, **overrides)
    failures = provider.check({}, news).failures
    assert prop in [f.property for f in failures], [(f.property, f.reason) for f in failures]


def test_check_rejects_a_public_bucket(site, provider):
    news = dict(props_for(site), public=True)
    assert [f.property for f in provider.check({}, news).failures] == ["public"]


def test_check_accepts_a_valid_locked_bucket(site, provider):
    news = props_for(site, object_lock_mode="COMPLIANCE", object_lock_days=30, noncurrent_days=90)
    assert provider.check({}, news).failures == []


def test_provider_survives_pulumi_serialization():
    restored = dill.loads(base64.b64decode(serialize_provider(BucketProvider())))
    assert isinstance(restored, BucketProvider)


def test_bucket_args_repr_hides_credentials():
    args = BucketArgs(bucket="b-1", endpoint="http://x", access_key="AKIA-SECRET", secret_key="s3cr3t")
    assert "s3cr3t" not in repr(args) and "AKIA-SECRET" not in repr(args)


def test_check_skips_rules_on_inputs_unknown_during_preview(site, provider):
    from pulumi.runtime import rpc

    news = props_for(site, object_lock_mode="COMPLIANCE", object_lock_days=30)
    news.update(object_lock_days=rpc.UNKNOWN, bucket=rpc.UNKNOWN)
    assert provider.check({}, news).failures == []


def test_update_replaces_and_removes_the_bucket_policy_on_the_server(site, provider):
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::p:user/u"]},
                                                    "Action": ["s3:DeleteObject"], "Resource": ["arn:aws:s3:::b/*"]}]}
    props = props_for(site, policy=json.dumps(deny))
    provider.create(props)
    assert json.loads(site.client().get_bucket_policy(Bucket=props["bucket"])["Policy"]) == deny
    provider.update("id", props, {**props, "policy": None})
    with pytest.raises(ClientError) as error:
        site.client().get_bucket_policy(Bucket=props["bucket"])
    assert error.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


def test_check_rejects_a_policy_without_statements(site, provider):
    failures = provider.check({}, props_for(site, policy='{"Version": "2012-10-17"}')).failures
    assert [f.property for f in failures] == ["policy"]
