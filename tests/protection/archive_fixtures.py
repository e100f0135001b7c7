"""A locked vault on a moto S3 server that enforces IAM, and a PostgreSQL server archiving into it.

moto checks credentials only after ``/moto-api/reset-auth`` is told how many requests go
unchecked: the vault, the admin's and the database host's keys are made first, then every
request is checked against the IAM policy of the key that signed it.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from multidc.local.archiving import lock_like_s3
from multidc.local.postgres import LocalPostgres
from multidc.local.s3 import LocalS3
from multidc.protection import archive

IMMUTABLE_DAYS = 30
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class LockedVault:
    s3: LocalS3
    bucket: str
    admin: tuple[str, str]
    writer: tuple[str, str]

    def client(self, keys: tuple[str, str]):
        return boto3.client("s3", endpoint_url=self.s3.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def _user(iam, name: str, policy: dict) -> tuple[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def locked_vault():
    """An object-locked vault (COMPLIANCE, IMMUTABLE_DAYS by default) whose S3 endpoint checks IAM policies."""
    with LocalS3(name="offsite-vault") as s3:
        bucket = f"vault-{uuid.uuid4().hex[:10]}"
        client = s3.client()
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": IMMUTABLE_DAYS}}})
        iam = boto3.client("iam", endpoint_url=s3.endpoint_url, region_name="us-east-1",
                           aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key)
        admin = _user(iam, "admin", ADMIN_POLICY)
        writer = _user(iam, "db-host", archive.writer_policy(bucket))
        request = urllib.request.Request(f"{s3.endpoint_url}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        yield LockedVault(s3, bucket, admin, writer)


@dataclass
class ArchivedServer:
    server: LocalPostgres
    target: archive.ArchiveTarget
    credentials: Path


@pytest.fixture(scope="module")
def archived_server(request, locked_vault):
    """A PostgreSQL 18 server archiving into the locked vault with the database host's keys, one base backup taken."""
    server = LocalPostgres("archived", settings={"fsync": "off", "track_commit_timestamp": "on"})
    request.addfinalizer(server.close)
    # Next to the server's data, where only its user can read it, as on the database host.
    credentials = archive.write_credentials(server.data_dir.parent / "archive.credentials", *locked_vault.writer)
    target = archive.ArchiveTarget(locked_vault.s3.endpoint_url, locked_vault.bucket, "core-db")
    server.settings.update(archive.archive_settings(target, credentials))
    server.start()
    with server.connect() as conn:
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    archive.flush_to_archive(server)
    archive.base_backup(server, target, credentials)
    # moto leaves multipart uploads (the base backup's tar) without the default retention S3 gives them.
    lock_like_s3(locked_vault.client(locked_vault.admin), locked_vault.bucket, archive.ARCHIVE_PREFIX, IMMUTABLE_DAYS)
    return ArchivedServer(server, target, credentials)
