"""The ReplicationLink provider on real MariaDB servers (Debian's mariadb-server): GTID, semi-sync."""

from __future__ import annotations

import pytest

from multidc.local.mariadb import LocalMariaDB
from multidc.providers.replication_link import ReplicationLinkArgs, ReplicationLinkProvider


@pytest.fixture(scope="module")
def mariadb_pair(request):
    primary, replica = LocalMariaDB("astana-ledger"), LocalMariaDB("almaty-ledger")
    for server in (primary, replica):
        request.addfinalizer(server.close)
        server.start()
    return primary, replica


def _props(primary: LocalMariaDB, replica: LocalMariaDB, mode: str) -> dict:
    return ReplicationLinkArgs(
        system="ledger", primary_site="astana", standby_site="almaty", mechanism="gtid", mode=mode,
        primary={"host": primary.host, "port": primary.port, "user": primary.user},
        standby={"host": replica.host, "port": replica.port, "user": replica.user},
        primary_password=primary.password, standby_password=replica.password, timeout_s=60).to_props()


def _rows(server: LocalMariaDB) -> list:
    with server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, item FROM app.orders ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


def test_mariadb_link_lifecycle_copy_semi_sync_drift_mode_change_and_delete(mariadb_pair) -> None:
    primary, replica = mariadb_pair
    with primary.connect() as conn, conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE app")
        cursor.execute("CREATE TABLE app.orders (id int AUTO_INCREMENT PRIMARY KEY, item text)")
        cursor.execute("INSERT INTO app.orders (item) VALUES ('before the link')")
    provider = ReplicationLinkProvider()
    props = _props(primary, replica, "sync")
    created = provider.create(props)
    assert (created.outs["state"], created.outs["mode"]) == ("replicating", "sync")
    with primary.connect() as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO app.orders (item) VALUES ('after the link')")  # semi-sync: the replica has it
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_yes_tx'")
        assert int(cursor.fetchone()[1]) >= 1  # acknowledged by the replica, not timed out to async
    with replica.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT MASTER_GTID_WAIT(%s, 10)", [_gtid(primary)])
    assert _rows(replica) == [(1, "before the link"), (2, "after the link")]

    read = provider.read(created.id, created.outs)
    assert read.outs["state"] == "replicating" and isinstance(read.outs["lag_bytes"], int)
    with replica.connect() as conn, conn.cursor() as cursor:
        cursor.execute("STOP SLAVE")  # by hand
    drifted = provider.read(created.id, created.outs)
    assert drifted.outs["state"] == "disconnected"
    assert provider.diff(created.id, drifted.outs, props).changes is True
    repaired = provider.update(created.id, drifted.outs, props)
    assert repaired.outs["state"] == "replicating"

    to_async = provider.update(created.id, repaired.outs, _props(primary, replica, "async"))
    assert to_async.outs["mode"] == "async" and _rows(replica) == _rows(primary)  # no second copy

    provider.delete(created.id, to_async.outs)
    with replica.connect() as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO app.orders (item) VALUES ('replica on its own')")  # promoted: writable
    assert _rows(primary) == [(1, "before the link"), (2, "after the link")]
    assert len(_rows(replica)) == 3


def _gtid(server: LocalMariaDB) -> str:
    with server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT @@gtid_binlog_pos")
        return cursor.fetchone()[0]
