"""Two sites' S3 endpoints for protection tests: import the fixtures by name.

    from s3_fixtures import site_a, site_b, fill_bucket  # noqa: F401

Each fixture is a separate moto server process (see multidc.local.s3), so a copy
between them really moves bytes from one store to another.
"""

import hashlib
import os

import pytest

from multidc.local.s3 import LocalS3


@pytest.fixture(scope="module")
def site_a():
    with LocalS3(name="site-a") as site:
        yield site


@pytest.fixture(scope="module")
def site_b():
    with LocalS3(name="site-b") as site:
        yield site


def fill_bucket(s3, bucket, count, *, size=1024, prefix="obj/", seed=b"multidc"):
    """Put ``count`` objects of pseudo-random bytes; return {key: sha256}."""
    digests = {}
    for n in range(count):
        key = f"{prefix}{n:05d}"
        body = hashlib.sha256(seed + key.encode()).digest() * (size // 32 + 1)
        body = body[:size]
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        digests[key] = hashlib.sha256(body).hexdigest()
    return digests


def bucket_digests(s3, bucket, prefix=""):
    """{key: sha256} of the current version of every object under ``prefix``."""
    digests = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            digests[entry["Key"]] = hashlib.sha256(body).hexdigest()
    return digests


def random_bytes(size):
    return os.urandom(size)
