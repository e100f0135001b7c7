"""The ReplicationLink provider's create/read/update/delete on real PostgreSQL servers."""

from __future__ import annotations

from typing import Any

import pytest

from multidc.local.postgres import LocalPostgres
from multidc.providers.replication_link import LinkError, ReplicationLinkArgs, ReplicationLinkProvider

from tests.helpers import eventually


def _props(primary: LocalPostgres, standby: LocalPostgres, mechanism: str, mode: str, **options: Any) -> dict:
    args = ReplicationLinkArgs(
        system="core-db", primary_site="astana", standby_site="almaty", mechanism=mechanism, mode=mode,
        primary={"host": primary.host, "port": primary.port, "user": primary.user, "database": "app"},
        standby={"host": standby.host, "port": standby.port, "user": standby.user, "database": "app"},
        primary_password=primary.password, standby_password=standby.password, options=options, timeout_s=60)
    return args.to_props()


def _rows(server: LocalPostgres) -> list[tuple]:
    with server.connect("app") as conn:
        return conn.execute("SELECT id, item FROM orders ORDER BY id").fetchall()


@pytest.fixture
def managed(make_server):
    """Two SQL-only endpoints (as Trove gives them), each with database `app`; the primary has a table."""
    primary = make_server("astana-core", settings={"wal_level": "logical"})
    standby = make_server("almaty-core")
    for server in (primary, standby):
        with server.connect() as conn:
            conn.execute("CREATE DATABASE app")
    with primary.connect("app") as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text)")
        conn.execute("INSERT INTO orders (item) VALUES ('before the link')")
    return primary, standby


def test_logical_create_copies_rows_and_a_new_row_reaches_the_replica(managed) -> None:
    primary, standby = managed
    provider = ReplicationLinkProvider()
    created = provider.create(_props(primary, standby, "logical", "sync"))
    assert created.outs["state"] == "replicating"
    assert created.outs["mode"] == "sync"
    with primary.connect("app") as conn:
        conn.execute("INSERT INTO orders (item) VALUES ('after the link')")  # sync: returns once the replica has it
    assert _rows(standby) == [(1, "before the link"), (2, "after the link")]


def test_logical_read_reports_lag_and_a_subscription_disabled_by_hand_is_drift(managed) -> None:
    primary, standby = managed
    provider = ReplicationLinkProvider()
    props = _props(primary, standby, "logical", "async")
    created = provider.create(props)
    read = provider.read(created.id, created.outs)
    assert read.outs["state"] == "replicating"
    assert isinstance(read.outs["lag_bytes"], int) and read.outs["lag_bytes"] >= 0
    assert provider.diff(created.id, read.outs, props).changes is False

    with standby.connect("app") as conn:  # by hand: the subscriber's sessions start read-only
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("ALTER SUBSCRIPTION multidc_core_db_almaty DISABLE")
    drifted = provider.read(created.id, created.outs)
    assert drifted.outs["state"] == "disabled"
    diff = provider.diff(created.id, drifted.outs, props)
    assert diff.changes is True and diff.replaces == []  # repaired in place, not replaced

    repaired = provider.update(created.id, drifted.outs, props)
    assert repaired.outs["state"] == "replicating"


def test_logical_update_switches_mode_without_a_new_copy(managed) -> None:
    primary, standby = managed
    provider = ReplicationLinkProvider()
    created = provider.create(_props(primary, standby, "logical", "async"))
    with standby.connect("app") as conn:
        before = conn.execute("SELECT oid FROM pg_subscription").fetchall()
    updated = provider.update(created.id, created.outs, _props(primary, standby, "logical", "sync"))
    assert updated.outs["mode"] == "sync"
    with primary.connect() as conn:
        assert conn.execute("SHOW synchronous_standby_names").fetchone()[0] == 'FIRST 1 ("multidc_core_db_almaty")'
    with standby.connect("app") as conn:
        assert conn.execute("SELECT oid FROM pg_subscription").fetchall() == before  # the same subscription
    assert _rows(standby) == [(1, "before the link")]  # no second copy of the row


def test_logical_delete_leaves_both_databases_with_their_rows_and_the_primary_writable(managed) -> None:
    primary, standby = managed
    provider = ReplicationLinkProvider()
    created = provider.create(_props(primary, standby, "logical", "sync"))
    provider.delete(created.id, created.outs)
    with primary.connect("app") as conn:
        conn.execute("SET statement_timeout = '5s'")
        conn.execute("INSERT INTO orders (item) VALUES ('after delete')")  # would hang if still sync
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)
    with standby.connect("app") as conn:
        assert conn.execute("SELECT count(*) FROM pg_subscription").fetchone() == (0,)
    assert _rows(standby) == [(1, "before the link")]
    provider.delete(created.id, created.outs)  # idempotent


def test_streaming_create_read_promoted_drift_and_delete(make_server) -> None:
    primary = make_server("astana-self")
    standby = make_server("almaty-self", start=False, initialize=False, password=primary.password)
    with primary.connect() as conn:
        conn.execute("CREATE DATABASE app")
    with primary.connect("app") as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text)")
    provider = ReplicationLinkProvider()
    props = _props(primary, standby, "physical-streaming", "async",
                   primary_base_dir=str(primary.data_dir.parent), standby_base_dir=str(standby.data_dir.parent))
    created = provider.create(props)
    assert created.outs["state"] == "replicating"
    with primary.connect("app") as conn:
        conn.execute("INSERT INTO orders (item) VALUES ('streamed')")
    assert eventually(lambda: _rows(standby) == [(1, "streamed")], "the row on the standby")
    read = provider.read(created.id, created.outs)
    assert read.outs["state"] == "replicating" and isinstance(read.outs["lag_bytes"], int)

    provider.delete(created.id, created.outs)
    with standby.connect("app") as conn:
        conn.execute("INSERT INTO orders (item) VALUES ('independent')")  # promoted: takes writes
    assert _rows(primary) == [(1, "streamed")]
    assert provider.read(created.id, created.outs).outs["state"] == "promoted"


def test_an_unreachable_endpoint_fails_fast_naming_it_its_port_and_the_network_path(make_server) -> None:
    primary = make_server("astana-alone", settings={"wal_level": "logical"})
    standby = LocalPostgres("almaty-gone", initialize=False)
    props = _props(primary, standby, "logical", "async")
    standby.close()
    with pytest.raises(LinkError) as error:
        ReplicationLinkProvider().create(props)
    message = str(error.value)
    assert f"standby in almaty at 127.0.0.1 port {standby.port}" in message
    assert "inter-site VPN" in message and "core-db" in message
    assert primary.password not in message


def test_check_rejects_a_synchronous_redis_link_and_an_unknown_mechanism() -> None:
    provider = ReplicationLinkProvider()
    redis = provider.check({}, {"mechanism": "replicaof", "mode": "sync"})
    assert [(f.property, "asynchronous only" in f.reason) for f in redis.failures] == [("mode", True)]
    unknown = provider.check({}, {"mechanism": "engine-native", "mode": "async"})
    assert [f.property for f in unknown.failures] == ["mechanism"]
