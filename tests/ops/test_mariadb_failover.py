"""A MariaDB system through the production commands: `multidc local up` (GTID, semi-synchronous),
SIGKILL of its primary site (`multidc local kill`), `multidc failover`, the site back (`multidc local
start`), `multidc failback` (both ways of re-protect: after a fresh copy, and from its own GTID
position), `multidc local down`, each its own process, while the drill's client
(multidc.drill.mariadb_pair) inserts through both endpoints of the outputs document as the application.

The stack is the hybrid example's `catalog` alone (MariaDB stands in for Trove's MySQL), so that
nothing but MariaDB runs.
"""

import json
import time

from multidc import project
from multidc.contract import GTID
from multidc.local import deployment
from multidc.drill.confirm import run_confirming
from multidc.drill.mariadb_pair import mariadb_pairs
from multidc.ops.outputs import read_file
from multidc.protection.mariadb import contained
from tests.helpers import eventually, run_multidc


def catalog_only(planned):
    platform, _ = planned("hybrid")
    catalog = next(s for s in platform.systems if s.name == "catalog")
    # Without its nightly dump: nothing but the MariaDB pair runs (no vault, no S3 endpoint).
    return platform.model_copy(update={"name": "catalog-only", "systems": [catalog.model_copy(update={"backup": None})]})


def test_semi_sync_mariadb_fails_over_and_back_without_losing_an_acknowledged_insert(project_copy, planned,
                                                                                      monkeypatch):
    project_copy.add("catalog-only", catalog_only(planned))
    monkeypatch.setenv(project.PROJECT_DIR_ENV, str(project_copy.path))
    out = project_copy / "out.json"

    def multidc(*args, check=True):
        return run_multidc(project_copy, *args, expect=0 if check else None)

    multidc("local", "up", "--stack", "catalog-only", "--outputs", str(out), "--mode", "sync")
    pair = None
    try:
        document = read_file(out)
        database = document.systems["catalog"].placements["onprem"].database
        assert (database.engine, database.database, database.user) == ("mysql", "catalog", "catalog")
        assert document.systems["catalog"].placements["cloud"].replication_mechanism == GTID
        (pair,) = mariadb_pairs(document, {"onprem", "cloud"})
        assert pair.mode == "sync"
        pair.start()
        eventually(lambda: len(pair.writer.acks) >= 50, "50 acknowledged inserts")
        # The replica stops receiving: the next insert is written to the primary's binlog and waits for
        # an acknowledgement that never comes (never acknowledged, so not counted). The killed primary
        # then holds a transaction the new one lacks, which re-protect must drop with a fresh copy.
        pair.standby.query("STOP SLAVE IO_THREAD", admin=True)
        acknowledged = len(pair.writer.acks)
        time.sleep(1.0)
        assert len(pair.writer.acks) <= acknowledged + 1, "semi-sync: inserts wait for the replica"

        kill_at = time.monotonic()
        deployment.kill_site("catalog-only", "onprem")  # what `multidc local kill` runs, timed here (as the drill)
        # The provider's isolation of the site is what the kill did: confirmed up front, as the drill does.
        over = json.loads(multidc("failover", "--stack", "catalog-only", "--to", "cloud", "--outputs", str(out),
                                  "--yes", "--json", "--confirm=2.manual.isolate.onprem").stdout)
        steps = {s["step"]: s for s in over["steps"]}
        assert steps["2.db.fence.catalog"]["status"] == "done" and "start read-only" in \
            steps["2.db.fence.catalog"]["detail"]
        assert steps["3.db.promote.catalog"]["status"] == "done"
        result = pair.after_failover("onprem", kill_at, kill_at)
        assert result.mechanism == GTID and result.acknowledged >= 50 and result.rto_from_kill_s > 0
        assert result.rpo_commits == 0, "semi-synchronous: every acknowledged insert is on the new primary"

        multidc("local", "start", "--stack", "catalog-only", "--site", "onprem")
        refused, evidence = pair.old_primary_refuses_writes()
        assert refused, evidence
        assert "read-only" in evidence

        back, _ = run_confirming(multidc, ["failback", "--stack", "catalog-only", "--to", "onprem", "--outputs",
                                           str(out), "--yes", "--json"], "multidc failback")
        steps = {s["step"]: s for s in back["steps"]}
        assert "after a fresh copy" in steps["1.db.reprotect.catalog"]["detail"], "it had a GTID the new primary lacks"
        assert "from its own GTID position" in steps["8.db.reprotect.catalog"]["detail"], "nothing to drop there"
        assert all(s["status"] in ("done", "skipped", "confirmed") for s in back["steps"]), back["steps"]
        pair.after_failback(time.monotonic())
        assert pair.result.failback_done and pair.result.primary_after_failback == "onprem"
        assert pair.result.acknowledged_total > result.acknowledged
        assert pair.result.missing_after_failback == 0
    finally:
        if pair is not None and pair.writer is not None:
            pair.writer.halt()
        multidc("local", "down", "--stack", "catalog-only", check=False)
    assert not (project_copy / ".multidc" / "local" / "catalog-only").exists()


def test_a_former_primary_is_diverged_when_it_holds_a_gtid_the_new_primary_lacks():
    state = "0-101-980,0-202-1100"  # the new primary (202) got 101's writes up to 980, then wrote its own
    assert contained("0-101-980", state)
    assert contained("", state)
    assert not contained("0-101-1000", state), "101 wrote 981..1000 that never reached 202: re-copy"
    assert not contained("1-101-5", state), "a domain the new primary never saw"
