"""Relaxing synchronous replication on real PostgreSQL: a surviving primary keeps taking writes."""

import pytest

from multidc.dr.backends import _write_commits
from multidc.dr.runbook import Step
from multidc.dr.states import NeedsOperator
from multidc.protection import postgres as pg

from tests.dr.pg_pair import streaming_pair


@pytest.fixture
def sync_pair(request):
    primary, standby, backend = streaming_pair(request, "relax", "no server mapped")
    pg.set_replication_mode(primary, "sync", standby_names=["b"])
    return primary, standby, backend


def relax(site, system="db"):
    return Step(id=f"2.db.relax.{system}", action="db.relax", title="relax", site=site, system=system,
                precondition="-", verification="-", rollback="-", params=(("standby_site", "b"),))


def test_relax_lets_a_primary_whose_sync_standby_died_commit_again(sync_pair):
    primary, standby, backend = sync_pair
    standby.kill()
    assert not _write_commits(primary, timeout=1)
    assert "a probe write committed" in backend.run(relax("a"))
    assert _write_commits(primary, timeout=5)


def test_relax_twice_is_harmless(sync_pair):
    primary, standby, backend = sync_pair
    standby.kill()
    backend.run(relax("a"))
    assert "a probe write committed" in backend.run(relax("a"))


def test_relax_of_a_system_without_a_server_needs_an_operator(sync_pair):
    _, _, backend = sync_pair
    with pytest.raises(NeedsOperator, match=r"^not done \(no server mapped\)"):
        backend.run(relax("a", system="other"))
