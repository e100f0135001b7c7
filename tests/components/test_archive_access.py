"""The archive vault's bucket policy as the bucket provider applies it, against a moto server that checks IAM.

What moto 5.2 enforces, and what it does not (checked here, so the docs stay true):
- the IAM policies of the key that signs a request (after ``/moto-api/reset-auth``);
- a bucket policy, but only for object requests (GET, PUT, DELETE of a key, as
  ``s3:<Method>Object``) and ignoring its ``Principal``: the vault's deny of ``s3:DeleteObject``
  refuses a delete marker here to every key. Bucket-level actions (the policy itself, the lock,
  versioning) are not checked against a bucket policy; the deny statements the provider applied
  are therefore read back from the endpoint and also evaluated as the writer's IAM policy, by
  moto's policy engine;
- COMPLIANCE object lock refuses deleting a locked version to every key, the admin's too;
- it lets a COMPLIANCE retention be shortened (AWS and Ceph RGW refuse it) and authorises
  ``PUT ?retention`` as ``s3:PutObject``: neither the lock nor the deny can be shown refusing a
  retention change here (a canary below fails the day moto starts refusing it).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from multidc.components.archive_access import vault_policy, writer_principal
from multidc.components.bucket_provider import BucketArgs, BucketProvider
from multidc.components.bucket_state import read_bucket_state
from multidc.contract import ARCHIVE_PREFIX
from multidc.local.s3 import LocalS3

BUCKET = "kz-prod-core-db-vault-almaty"
KEY = f"{ARCHIVE_PREFIX}/core-db/wals/0000000100000000/000000010000000000000001.gz"
ANY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _user(iam, name: str, policy: dict) -> tuple[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _refused(call) -> str:
    """The error code of a refused request; moto answers a bucket policy's deny with a bare 403."""
    with pytest.raises(ClientError) as error:
        call()
    code = error.value.response["Error"]["Code"]
    return "AccessDenied" if code == "403" else code


@pytest.fixture(scope="module")
def vault():
    """The vault as `pulumi up` creates it (provider create, policy included), one archived WAL version,
    and three keys: the admin's, a project member's that may do anything to objects (``member``: what
    only the bucket policy and the lock stop), and the writer's with the applied bucket policy's
    statements as its IAM policy (``writer``)."""
    with LocalS3(name="archive-access") as s3:
        client = s3.client()
        props = BucketArgs(bucket=BUCKET, endpoint=s3.endpoint_url, access_key=s3.access_key,
                           secret_key=s3.secret_key, object_lock_mode="COMPLIANCE", object_lock_days=30,
                           policy=vault_policy(BUCKET, writer_principal("project-1", "writer-1"))).to_props()
        BucketProvider().create(props)
        version = client.put_object(Bucket=BUCKET, Key=KEY, Body=b"wal")["VersionId"]
        applied = json.loads(client.get_bucket_policy(Bucket=BUCKET)["Policy"])
        as_iam = {"Version": "2012-10-17",
                  "Statement": [{k: v for k, v in s.items() if k != "Principal"} for s in applied["Statement"]]}
        iam = boto3.client("iam", endpoint_url=s3.endpoint_url, region_name="us-east-1",
                           aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key)
        keys = {"admin": _user(iam, "admin", ANY), "writer": _user(iam, "writer", as_iam),
                "member": _user(iam, "member", {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})}
        request = urllib.request.Request(f"{s3.endpoint_url}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()

        def as_(who: str):
            access, secret = keys[who]
            return boto3.client("s3", endpoint_url=s3.endpoint_url, region_name="us-east-1",
                                aws_access_key_id=access, aws_secret_access_key=secret,
                                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

        yield {"as": as_, "version": version, "props": props}


def test_the_provider_applies_the_vault_policy_and_reads_it_back(vault):
    state = read_bucket_state(vault["as"]("admin"), BUCKET)
    assert json.loads(state["policy"]) == json.loads(vault["props"]["policy"])


def test_the_applied_policy_refuses_the_writer_deletes_and_unlocking(vault):
    writer = vault["as"]("writer")
    assert _refused(lambda: writer.delete_object(Bucket=BUCKET, Key=KEY, VersionId=vault["version"])) == "AccessDenied"
    assert _refused(lambda: writer.delete_object(Bucket=BUCKET, Key=KEY)) == "AccessDenied"  # no delete marker
    assert _refused(lambda: writer.delete_bucket_policy(Bucket=BUCKET)) == "AccessDenied"
    assert _refused(lambda: writer.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(ANY))) == "AccessDenied"
    assert _refused(lambda: writer.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})) == "AccessDenied"
    writer.put_object(Bucket=BUCKET, Key=f"{KEY}.next", Body=b"next")  # and it still archives
    assert writer.get_object(Bucket=BUCKET, Key=f"{KEY}.next")["Body"].read() == b"next"  # and reads (restores)


def test_compliance_lock_refuses_deleting_a_locked_version_to_every_key(vault):
    admin = vault["as"]("admin")
    assert _refused(lambda: admin.delete_object(Bucket=BUCKET, Key=KEY, VersionId=vault["version"])) == "AccessDenied"
    head = admin.head_object(Bucket=BUCKET, Key=KEY, VersionId=vault["version"])
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_the_bucket_policy_itself_refuses_a_delete_marker_to_a_key_allowed_everything(vault):
    # A delete marker is not stopped by the lock (it adds a version); only the bucket policy stops it.
    member = vault["as"]("member")
    assert _refused(lambda: member.delete_object(Bucket=BUCKET, Key=KEY)) == "AccessDenied"
    assert "DeleteMarkers" not in member.list_object_versions(Bucket=BUCKET, Prefix=KEY)

