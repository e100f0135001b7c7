"""Real PostgreSQL pairs (primary + streaming standby) and a real S3 endpoint for protection tests.

Every server is stopped and deleted by a finalizer, also when the test fails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

import pytest

from multidc.local.postgres import LocalPostgres
from multidc.protection import postgres as rep

# Test-only speed settings: no fsync, so commits cost no disk flush. Replication
# semantics (what is sent, flushed by the walreceiver, replayed) are unchanged.
FAST = {"fsync": "off", "full_page_writes": "on"}


@dataclass
class Pair:
    primary: LocalPostgres
    standby: LocalPostgres
    auth: rep.ReplicationAuth
    standby_name: str = "site_b"
    primary_name: str = "site_a"


def _make_pair(request: pytest.FixtureRequest, *, primary_settings: dict[str, str] | None = None) -> Pair:
    primary = LocalPostgres("site-a", settings={**FAST, **(primary_settings or {})})
    request.addfinalizer(primary.close)
    standby = LocalPostgres("site-b", initialize=False, password=primary.password, settings=FAST)
    request.addfinalizer(standby.close)
    primary.start()
    auth = rep.ReplicationAuth(password=uuid.uuid4().hex)
    rep.configure_primary(primary, auth, ["site_b"])
    rep.create_standby(primary, standby, auth, name="site_b")
    return Pair(primary, standby, auth)


@pytest.fixture
def pg_pair(request: pytest.FixtureRequest) -> Pair:
    """A fresh primary streaming asynchronously to a standby; for tests that break things."""
    return _make_pair(request)


@pytest.fixture(scope="module")
def shared_pg_pair(request: pytest.FixtureRequest) -> Pair:
    """One pair per module, for tests that leave it as they found it (async, both running)."""
    return _make_pair(request)


@pytest.fixture
def make_server(request: pytest.FixtureRequest) -> Callable[..., LocalPostgres]:
    """Start standalone servers that are closed after the test."""

    def make(name: str = "pg", **settings: str) -> LocalPostgres:
        server = LocalPostgres(name, settings={**FAST, **settings})
        request.addfinalizer(server.close)
        return server.start()

    return make


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API on 127.0.0.1 (moto server): the project's LocalS3 when present."""
    try:
        from multidc.local.s3 import LocalS3
    except ImportError:
        LocalS3 = None  # noqa: N806
    if LocalS3 is not None:
        with LocalS3(name="backup-site") as s3:
            yield s3.endpoint_url
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(s3_client) -> str:
    name = f"backups-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def locked_bucket(s3_client) -> str:
    name = f"worm-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture(scope="module")
def pg_server(request: pytest.FixtureRequest) -> LocalPostgres:
    """One standalone server per module; tests create their own databases on it."""
    server = LocalPostgres("db", settings=FAST)
    request.addfinalizer(server.close)
    return server.start()


@pytest.fixture
def fresh_database(pg_server: LocalPostgres) -> str:
    """A new empty database on the module's server; returns its name."""
    name = f"db_{uuid.uuid4().hex[:10]}"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name
