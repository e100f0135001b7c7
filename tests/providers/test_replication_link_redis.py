"""The ReplicationLink provider on real Redis servers (Debian's redis-server): REPLICAOF."""

from __future__ import annotations

import pytest

from multidc.local.redis import LocalRedis
from multidc.providers.replication_link import ReplicationLinkArgs, ReplicationLinkProvider

from tests.helpers import eventually


@pytest.fixture
def redis_pair(request):
    primary, replica = LocalRedis("astana-sessions"), LocalRedis("almaty-sessions")
    for server in (primary, replica):
        request.addfinalizer(server.close)
        server.start()
    return primary, replica


def _props(primary: LocalRedis, replica: LocalRedis) -> dict:
    return ReplicationLinkArgs(
        system="sessions", primary_site="astana", standby_site="almaty", mechanism="replicaof", mode="async",
        primary={"host": primary.host, "port": primary.port}, standby={"host": replica.host, "port": replica.port},
        primary_password=primary.password, standby_password=replica.password, timeout_s=60).to_props()


def test_redis_create_copies_keys_and_a_new_write_reaches_the_replica(redis_pair) -> None:
    primary, replica = redis_pair
    primary.client().set("session:1", "before")
    created = ReplicationLinkProvider().create(_props(primary, replica))
    assert created.outs["state"] == "replicating" and created.outs["mode"] == "async"
    assert replica.client().get("session:1") == b"before"
    primary.client().set("session:2", "after")
    assert eventually(lambda: replica.client().get("session:2") == b"after", "session:2 on the replica")


def test_redis_read_reports_lag_and_a_replica_promoted_by_hand_is_drift_repaired_by_update(redis_pair) -> None:
    primary, replica = redis_pair
    provider = ReplicationLinkProvider()
    props = _props(primary, replica)
    created = provider.create(props)
    read = provider.read(created.id, created.outs)
    assert read.outs["state"] == "replicating" and isinstance(read.outs["lag_bytes"], int)
    assert provider.diff(created.id, read.outs, props).changes is False

    replica.client().replicaof("NO", "ONE")
    drifted = provider.read(created.id, created.outs)
    assert drifted.outs["state"] == "promoted"
    assert provider.diff(created.id, drifted.outs, props).changes is True
    assert provider.update(created.id, drifted.outs, props).outs["state"] == "replicating"


def test_redis_delete_leaves_both_servers_with_their_keys(redis_pair) -> None:
    primary, replica = redis_pair
    provider = ReplicationLinkProvider()
    primary.client().set("session:1", "kept")
    created = provider.create(_props(primary, replica))
    provider.delete(created.id, created.outs)
    assert replica.client().info("replication")["role"] == "master"
    replica.client().set("session:2", "own write")  # a primary now: takes writes
    assert primary.client().get("session:1") == b"kept" and replica.client().get("session:1") == b"kept"
    assert primary.client().get("session:2") is None
