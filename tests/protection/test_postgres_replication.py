"""Replication between two real PostgreSQL servers: streaming, sync/async, failover moves."""

from __future__ import annotations

from typing import TYPE_CHECKING

import threading
import time

import psycopg
import pytest

from multidc.protection import postgres as rep

if TYPE_CHECKING:  # the fixture's type, for readers; conftest is not importable as a module
    from conftest import Pair



def _rows(server, table: str = "t") -> list[tuple]:
    with server.connect() as conn:
        return conn.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall()


def _write(server, *rows: tuple[int, str], table: str = "t") -> None:
    with server.connect() as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY, v text)")
        for row in rows:
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", row)


class _BackgroundCommit(threading.Thread):
    """Commit one row from a thread, so the test can watch whether the commit returns."""

    def __init__(self, server, row: tuple[int, str], table: str) -> None:
        super().__init__(daemon=True)
        self.server, self.row, self.table = server, row, table
        self.error: BaseException | None = None
        self.returned_at: float | None = None

    def run(self) -> None:
        try:
            with self.server.connect() as conn:
                conn.execute(f"INSERT INTO {self.table} VALUES (%s, %s)", self.row)
            self.returned_at = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc


# -- streaming and status (shared pair, left as found) ---------------------------------------


def test_committed_rows_arrive_on_the_standby(shared_pg_pair: Pair) -> None:
    _write(shared_pg_pair.primary, (1, "one"), (2, "two"), table="arrive")
    rep.wait_for_replay(shared_pg_pair.primary, shared_pg_pair.standby, timeout=10)
    assert _rows(shared_pg_pair.standby, "arrive") == [(1, "one"), (2, "two")]


def test_standby_is_in_recovery_and_primary_is_not(shared_pg_pair: Pair) -> None:
    assert rep.is_in_recovery(shared_pg_pair.standby)
    assert not rep.is_in_recovery(shared_pg_pair.primary)


def test_status_reports_the_standby_streaming_async_with_non_negative_lag(shared_pg_pair: Pair) -> None:
    _write(shared_pg_pair.primary, (1, "x"), table="status")
    rep.wait_for_replay(shared_pg_pair.primary, shared_pg_pair.standby, timeout=10)
    [status] = rep.replication_status(shared_pg_pair.primary)
    assert (status.application_name, status.state, status.sync_state) == ("site_b", "streaming", "async")
    assert status.client_addr == "127.0.0.1"
    assert status.lag_bytes is not None and status.lag_bytes >= 0
    for seconds in (status.write_lag_s, status.flush_lag_s, status.replay_lag_s):
        assert seconds is None or seconds >= 0
    assert all(lsn and "/" in lsn for lsn in (status.sent_lsn, status.flush_lsn, status.replay_lsn))


def test_lag_bytes_grow_while_standby_replay_is_paused(shared_pg_pair: Pair) -> None:
    primary, standby = shared_pg_pair.primary, shared_pg_pair.standby
    _write(primary, table="paused")
    rep.wait_for_replay(primary, standby, timeout=10)
    with standby.connect() as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        with primary.connect() as conn:
            conn.execute("INSERT INTO paused SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g")
        time.sleep(0.5)  # let the standby receive (not replay) the WAL
        [status] = rep.replication_status(primary)
        assert status.lag_bytes is not None and status.lag_bytes > 0, status
        assert rep.lsn_to_int(status.flush_lsn) > rep.lsn_to_int(status.replay_lsn), status
        assert status.replay_lag_s is None or status.replay_lag_s >= 0
        assert _rows(standby, "paused") == []
    finally:
        with standby.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    rep.wait_for_replay(primary, standby, timeout=10)
    assert rep.replication_status(primary)[0].lag_bytes == 0


def test_sync_remote_apply_commit_is_visible_on_the_standby_when_it_returns(shared_pg_pair: Pair) -> None:
    primary, standby = shared_pg_pair.primary, shared_pg_pair.standby
    _write(primary, table="applied")
    rep.set_replication_mode(primary, "sync", standby_names=["site_b"], synchronous_commit="remote_apply")
    try:
        assert rep.replication_status(primary)[0].sync_state == "sync"
        with primary.connect() as writer, standby.connect() as reader:
            for i in range(20):
                writer.execute("INSERT INTO applied VALUES (%s, 'x')", [i])
                # No waiting: remote_apply returned only after the standby replayed it.
                assert reader.execute("SELECT count(*) FROM applied WHERE id = %s", [i]).fetchone()[0] == 1
    finally:
        rep.set_replication_mode(primary, "async")


# -- sync mode when the standby is gone ---------------------------------------------------------


def test_sync_commit_is_not_acknowledged_until_a_paused_standby_resumes(pg_pair: Pair) -> None:
    _write(pg_pair.primary, table="held")
    rep.set_replication_mode(pg_pair.primary, "sync", standby_names=["site_b"])
    pg_pair.standby.pause()  # SIGSTOP: its walreceiver can neither flush nor reply
    try:
        commit = _BackgroundCommit(pg_pair.primary, (1, "held"), "held")
        commit.start()
        commit.join(timeout=2.0)
        assert commit.is_alive() and commit.returned_at is None, "commit returned without the standby"
        resumed_at = time.monotonic()
    finally:
        pg_pair.standby.resume()
    commit.join(timeout=15)
    assert commit.error is None
    assert commit.returned_at is not None and commit.returned_at >= resumed_at
    assert _rows(pg_pair.standby, "held") == [(1, "held")]


def test_relax_synchronous_releases_commits_waiting_for_a_killed_standby(pg_pair: Pair) -> None:
    _write(pg_pair.primary, table="relaxed")
    rep.set_replication_mode(pg_pair.primary, "sync", standby_names=["site_b"])
    pg_pair.standby.kill()
    commit = _BackgroundCommit(pg_pair.primary, (1, "after-loss"), "relaxed")
    commit.start()
    commit.join(timeout=2.0)
    assert commit.is_alive(), "a sync commit returned while its only sync standby was dead"

    rep.relax_synchronous(pg_pair.primary)
    commit.join(timeout=10)
    assert not commit.is_alive() and commit.error is None
    _write(pg_pair.primary, (2, "later"), table="relaxed")  # new writes do not hang either
    assert _rows(pg_pair.primary, "relaxed") == [(1, "after-loss"), (2, "later")]


def test_statement_timeout_does_not_end_a_sync_commit_wait(pg_pair: Pair) -> None:
    # PostgreSQL disables statement_timeout before the commit, so it cannot bound the wait
    # for a standby: the DR executor must use relax_synchronous, not timeouts.
    _write(pg_pair.primary, table="timed")
    rep.set_replication_mode(pg_pair.primary, "sync", standby_names=["site_b"])
    pg_pair.standby.kill()
    with pg_pair.primary.connect() as conn:
        conn.execute("SET statement_timeout = '300ms'")
        commit = threading.Thread(target=conn.execute, args=("INSERT INTO timed VALUES (1, 'x')",), daemon=True)
        commit.start()
        commit.join(timeout=2.0)
        assert commit.is_alive(), "the commit wait ended although the standby is dead"
        rep.relax_synchronous(pg_pair.primary)
        commit.join(timeout=10)


def test_cancelled_sync_commit_wait_returns_success_with_a_warning(pg_pair: Pair) -> None:
    # The commit is already durable locally when it starts waiting; a cancel cannot undo
    # it, so PostgreSQL returns success plus a WARNING. Clients needing zero loss must
    # treat that warning as "not replicated".
    _write(pg_pair.primary, table="cancelled")
    rep.set_replication_mode(pg_pair.primary, "sync", standby_names=["site_b"])
    pg_pair.standby.kill()
    notices: list[str] = []
    with pg_pair.primary.connect() as conn, pg_pair.primary.connect() as admin:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        commit = threading.Thread(target=conn.execute, args=("INSERT INTO cancelled VALUES (1, 'x')",), daemon=True)
        commit.start()
        commit.join(timeout=1.0)
        assert commit.is_alive()
        admin.execute("SELECT pg_cancel_backend(%s)", [conn.info.backend_pid])
        commit.join(timeout=10)
        assert not commit.is_alive()
    assert any("canceling wait for synchronous replication" in n for n in notices), notices
    assert _rows(pg_pair.primary, "cancelled") == [(1, "x")]


# -- failover, fencing, re-protect, switchback --------------------------------------------------


def test_promoted_standby_accepts_writes_and_holds_replicated_rows(pg_pair: Pair) -> None:
    _write(pg_pair.primary, (1, "before"))
    rep.wait_for_replay(pg_pair.primary, pg_pair.standby, timeout=10)
    pg_pair.primary.kill()

    rep.promote(pg_pair.standby, old_primary=pg_pair.primary)

    assert not rep.is_in_recovery(pg_pair.standby)
    _write(pg_pair.standby, (2, "after"))
    assert _rows(pg_pair.standby) == [(1, "before"), (2, "after")]


def test_promote_is_idempotent(pg_pair: Pair) -> None:
    pg_pair.primary.kill()
    rep.promote(pg_pair.standby)
    rep.promote(pg_pair.standby)
    assert not rep.is_in_recovery(pg_pair.standby)


def test_promote_refuses_while_old_primary_still_accepts_writes(pg_pair: Pair) -> None:
    with pytest.raises(rep.SplitBrainRisk, match=pg_pair.primary.address):
        rep.promote(pg_pair.standby, old_primary=pg_pair.primary)
    assert rep.is_in_recovery(pg_pair.standby)


def test_fenced_primary_refuses_writes(pg_pair: Pair) -> None:
    _write(pg_pair.primary, (1, "before"))
    rep.fence(pg_pair.primary, method="read_only")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        _write(pg_pair.primary, (2, "after-fence"))
    assert not rep.accepts_writes(pg_pair.primary)
    assert _rows(pg_pair.primary) == [(1, "before")]


def test_fence_cuts_sessions_that_were_open_before_it(pg_pair: Pair) -> None:
    _write(pg_pair.primary, table="open")
    with pg_pair.primary.connect() as session:
        rep.fence(pg_pair.primary)
        with pytest.raises(psycopg.OperationalError):
            session.execute("INSERT INTO open VALUES (1, 'from an old session')")
    assert _rows(pg_pair.primary, "open") == []


def test_fence_by_stop_leaves_nothing_to_write_to(pg_pair: Pair) -> None:
    rep.fence(pg_pair.primary, method="stop")
    assert not pg_pair.primary.is_running()
    assert not rep.accepts_writes(pg_pair.primary)


def test_promotion_is_allowed_once_the_old_primary_is_fenced(pg_pair: Pair) -> None:
    rep.fence(pg_pair.primary)
    rep.promote(pg_pair.standby, old_primary=pg_pair.primary)
    assert rep.accepts_writes(pg_pair.standby)


def test_rewind_reprotects_old_primary_and_new_rows_arrive_on_it(pg_pair: Pair) -> None:
    old, new = pg_pair.primary, pg_pair.standby
    _write(old, (1, "replicated"))
    rep.wait_for_replay(old, new, timeout=10)
    # Cut the link, then let the old primary commit a row the standby never gets:
    # the two timelines diverge as they do when a site is lost under async replication.
    with new.connect() as conn:
        conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)
    _write(old, (2, "only-on-old"))
    old.kill()
    rep.promote(new)
    _write(new, (3, "written-on-new"))

    rep.rewind_as_standby(old, new, pg_pair.auth, name="site_a")

    assert rep.is_in_recovery(old)
    _write(new, (4, "after-reprotect"))
    rep.wait_for_replay(new, old, timeout=10)
    assert _rows(old) == [(1, "replicated"), (3, "written-on-new"), (4, "after-reprotect")]
    [status] = rep.replication_status(new)
    assert (status.application_name, status.state) == ("site_a", "streaming")


def test_switchover_swaps_roles_back_without_losing_rows(pg_pair: Pair) -> None:
    site_a, site_b = pg_pair.primary, pg_pair.standby
    pg_pair.primary.kill()
    rep.promote(site_b)
    rep.rewind_as_standby(site_a, site_b, pg_pair.auth, name="site_a")
    _write(site_b, (1, "written-during-failover"))

    rep.switchover(site_b, site_a, pg_pair.auth, old_primary_name="site_b")

    assert not rep.is_in_recovery(site_a) and rep.is_in_recovery(site_b)
    assert _rows(site_a) == [(1, "written-during-failover")]
    _write(site_a, (2, "after-switchback"))
    rep.wait_for_replay(site_a, site_b, timeout=10)
    assert _rows(site_b) == [(1, "written-during-failover"), (2, "after-switchback")]


def test_configure_primary_restarts_a_server_whose_wal_level_cannot_feed_standbys(make_server) -> None:
    server = make_server("minimal", wal_level="minimal", max_wal_senders="0")
    pid_before = server.pid

    rep.configure_primary(server, rep.ReplicationAuth(password="pw"), ["site_b"])

    assert server.pid != pid_before
    with server.connect() as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("replica",)
        assert int(conn.execute("SHOW max_wal_senders").fetchone()[0]) >= 5
        slots = conn.execute("SELECT slot_name, slot_type FROM pg_replication_slots").fetchall()
    assert slots == [("site_b", "physical")]


def test_create_standby_refuses_to_overwrite_a_primary(shared_pg_pair: Pair) -> None:
    with pytest.raises(rep.ReplicationError, match="already holds a primary"):
        rep.create_standby(shared_pg_pair.standby, shared_pg_pair.primary, shared_pg_pair.auth, name="x")


# -- logical replication (managed endpoints) ------------------------------------------------------


def test_logical_replication_copies_existing_rows_and_streams_new_ones(make_server) -> None:
    publisher = make_server("managed-a", wal_level="logical")
    subscriber = make_server("managed-b")
    with publisher.connect() as conn:
        conn.execute("CREATE DATABASE app")
    with subscriber.connect() as conn:
        conn.execute("CREATE DATABASE app")
    with publisher.connect("app") as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
        conn.execute("INSERT INTO orders VALUES (1, 'existing')")

    # Only SQL endpoints are used: no data directory, no pg_basebackup.
    endpoint_a = rep.PgEndpoint(publisher.host, publisher.port, publisher.user, publisher.password)
    endpoint_b = rep.PgEndpoint(subscriber.host, subscriber.port, subscriber.user, subscriber.password)
    rep.setup_logical_replication(endpoint_a, endpoint_b, dbname="app", timeout=60)

    with publisher.connect("app") as conn:
        conn.execute("INSERT INTO orders VALUES (2, 'new')")
    deadline = time.monotonic() + 15
    rows: list[tuple] = []
    while time.monotonic() < deadline:
        with subscriber.connect("app") as conn:
            rows = conn.execute("SELECT id, item FROM orders ORDER BY id").fetchall()
        if len(rows) == 2:
            break
        time.sleep(0.1)
    assert rows == [(1, "existing"), (2, "new")]


def test_logical_replication_refuses_a_publisher_without_wal_level_logical(make_server) -> None:
    publisher, subscriber = make_server("replica-level"), make_server("sub")
    with pytest.raises(rep.ReplicationError, match=f"{publisher.address} has wal_level=replica"):
        rep.setup_logical_replication(publisher, subscriber, dbname="postgres")
