"""Fencing on real PostgreSQL: the old primary never takes writes again after a failover."""

import psycopg
import pytest

from multidc.dr.runbook import Step
from multidc.protection import postgres as pg

from tests.dr.pg_pair import streaming_pair


@pytest.fixture
def pair(request):
    primary, standby, backend = streaming_pair(request, "fence", "test")
    with primary.connect() as conn:
        conn.execute("CREATE TABLE t (id int)")
    # The pair may replicate asynchronously: a primary killed at once can take the table with it,
    # and the promoted standby would then fail the test for the wrong reason.
    pg.wait_for_replay(primary, standby, timeout=60)
    return primary, standby, backend


def step(action, site):
    return Step(id=f"x.{action}", action=action, title=action, site=site, system="db", precondition="-",
                verification="-", rollback="-", params=(("from_site", "a"), ("to_site", "b")))


def _insert(server):
    with server.connect() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ WRITE")
        conn.execute("INSERT INTO t VALUES (1)")


def test_killed_old_primary_restarts_refusing_even_explicit_read_write(pair):
    primary, standby, backend = pair
    primary.kill()
    assert "will start as a standby" in backend.run(step("db.fence", "a"))
    backend.run(step("db.promote", "b"))
    primary.start()
    with pytest.raises(psycopg.Error, match="read-write mode during recovery|read-only transaction"):
        _insert(primary)
    _insert(standby)


def test_live_old_primary_is_fenced_read_only_before_promotion(pair):
    primary, standby, backend = pair
    assert "fenced read-only" in backend.run(step("db.fence", "a"))
    assert not pg.accepts_writes(primary)
    assert "promoted" in backend.run(step("db.promote", "b"))


def test_promotion_is_refused_while_the_old_primary_still_takes_writes(pair):
    _, standby, backend = pair
    with pytest.raises(pg.SplitBrainRisk):
        backend.run(step("db.promote", "b"))
    assert pg.is_in_recovery(standby)
