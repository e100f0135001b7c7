"""The full kz-prod drill on real local PostgreSQL and S3 processes, its primary site killed with SIGKILL.

kz-prod between astana (killed) and almaty: core-db and cards-db (sync) and the buckets
documents and datasets fail over to almaty; mlflow-db (async) and ml-artifacts have their
primary in almaty and only lose their copy in astana.
"""

import pytest

from multidc.dr.drill import DrillError, run_drill
from multidc.spec import load_stack

from .graphs import graph_for, platform

FAILED_OVER = ("core-db", "cards-db")


@pytest.fixture(scope="module")
def drill():
    spec = load_stack("kz-prod")
    return run_drill(spec, graph_for(spec), trigger="automatic", seed=7)


def test_drill_covers_every_replicated_postgres_system_and_bucket(drill):
    assert [s.system for s in drill.systems] == ["core-db", "cards-db", "mlflow-db"]
    assert [b.bucket for b in drill.buckets] == ["documents", "datasets", "ml-artifacts"]
    assert [s.system for s in drill.systems if s.failed_over] == list(FAILED_OVER)


@pytest.mark.parametrize("system", FAILED_OVER)
def test_sync_system_loses_no_acknowledged_commit(drill, system):
    result = drill.system(system)
    assert result.mode == "sync"
    assert result.acknowledged > 0
    assert result.missing_after_failover == 0


def test_async_system_whose_primary_survived_loses_exactly_nothing_and_keeps_writing(drill):
    result = drill.system("mlflow-db")
    assert (result.mode, result.failed_over) == ("async", False)
    assert result.acknowledged > 0
    assert result.missing_after_failover == 0
    assert result.writes_continued
    assert result.rto_from_kill_s is not None and result.rto_from_kill_s < 5


@pytest.mark.parametrize("system", FAILED_OVER)
def test_drill_measures_rto_from_the_kill_to_the_first_write_on_the_new_primary(drill, system):
    result = drill.system(system)
    assert result.rto_from_kill_s is not None and result.rto_from_kill_s > drill.detection_s > 0


def test_headline_rto_is_the_worst_system(drill):
    assert drill.rto_from_kill_s == max(s.rto_from_kill_s for s in drill.systems)
    assert drill.to_json()["worst_system"] == drill.worst.system


@pytest.mark.parametrize("system", FAILED_OVER)
def test_restarted_old_primary_refuses_writes(drill, system):
    result = drill.system(system)
    assert result.fenced_refuses_writes, result.fence_evidence


@pytest.mark.parametrize("system", [*FAILED_OVER, "mlflow-db"])
def test_failback_keeps_every_acknowledged_commit(drill, system):
    result = drill.system(system)
    assert result.failback_done
    assert result.acknowledged_total > result.acknowledged
    assert result.missing_after_failback == 0


@pytest.mark.parametrize("bucket", ["documents", "datasets"])
def test_surviving_bucket_holds_what_was_copied_before_the_kill(drill, bucket):
    result = drill.bucket(bucket)
    assert result.failed_over
    assert result.objects_surviving > 0
    assert result.objects_surviving + result.objects_lost == result.objects_acknowledged


def test_bucket_whose_primary_survived_keeps_every_object(drill):
    result = drill.bucket("ml-artifacts")
    assert not result.failed_over
    assert result.objects_acknowledged > 0 and result.objects_lost == 0


@pytest.mark.parametrize("bucket", ["documents", "datasets"])
def test_failback_copies_the_surviving_objects_back_into_the_returned_site(drill, bucket):
    assert drill.bucket(bucket).objects_missing_after_failback == 0


def test_failback_leaves_a_system_that_never_failed_over_in_its_home_site(drill):
    assert drill.system("mlflow-db").primary_after_failback == "almaty"


def test_failback_keeps_the_objects_of_a_bucket_that_never_failed_over(drill):
    assert drill.bucket("ml-artifacts").objects_missing_after_failback == 0


def test_cloud_only_steps_are_reported_as_recorded(drill):
    assert any("dns.switch" in line and "Designate" in line for line in drill.recorded_only)
    assert any("pulumi.flip" in line for line in drill.recorded_only)


def test_engines_without_a_local_stand_in_are_recorded_with_the_reason(drill):
    sessions = [line for line in drill.recorded_only if "db.promote sessions@almaty" in line]
    assert sessions and "no local stand-in for redis" in sessions[0] and "engine's own replication" in sessions[0]
    assert not any("core-db" in line and line.split(": ", 1)[1].startswith("db.") for line in drill.recorded_only)


def test_json_report_has_one_entry_per_system(drill):
    data = drill.to_json()
    assert [s["system"] for s in data["systems"]] == ["core-db", "cards-db", "mlflow-db"]
    assert data["rpo_commits"] == {"core-db": 0, "cards-db": 0, "mlflow-db": 0}


def test_automatic_drill_is_refused_without_witness():
    spec = platform([{"name": "db", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
                      "replication": "sync", "rpo": "0s"}])
    with pytest.raises(DrillError, match="no witness"):
        run_drill(spec, graph_for(spec), trigger="automatic")


def test_sync_system_whose_primary_survives_keeps_taking_writes():
    spec = platform([
        {"name": "core", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
         "replication": "sync", "rpo": "0s"},
        {"name": "south", "kind": "postgres", "sites": ["almaty", "astana"], "topology": "active-passive",
         "replication": "sync", "rpo": "0s"},
    ])
    result = run_drill(spec, graph_for(spec), seed=1, failback=False).system("south")
    assert result.sync_relaxed_by_runbook
    assert result.writes_continued
