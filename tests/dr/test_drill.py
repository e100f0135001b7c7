"""A full drill on real local PostgreSQL and S3 processes, killed with SIGKILL."""

import pytest

from multidc.dr.drill import DrillError, run_drill
from multidc.spec import load_stack

from .graphs import graph_for, platform


@pytest.fixture(scope="module")
def sync_drill():
    spec = load_stack("kz-prod")
    return run_drill(spec, graph_for(spec), mode="sync", trigger="automatic", seed=7)


def test_sync_drill_loses_no_acknowledged_commit(sync_drill):
    assert sync_drill.acknowledged > 0
    assert sync_drill.missing_after_failover == 0


def test_drill_measures_rto_from_the_kill_to_the_first_write_on_the_new_primary(sync_drill):
    assert sync_drill.rto_from_kill_s is not None and sync_drill.rto_from_kill_s > 0
    assert sync_drill.detection_s is not None and sync_drill.rto_from_kill_s > sync_drill.detection_s


def test_restarted_old_primary_refuses_writes(sync_drill):
    assert sync_drill.fenced_refuses_writes, sync_drill.fence_evidence


def test_failback_keeps_every_acknowledged_commit(sync_drill):
    assert sync_drill.failback_done
    assert sync_drill.acknowledged_total > sync_drill.acknowledged
    assert sync_drill.missing_after_failback == 0


def test_surviving_bucket_holds_what_was_copied_before_the_kill(sync_drill):
    assert sync_drill.objects_in_surviving_bucket > 0
    assert sync_drill.objects_in_surviving_bucket + sync_drill.objects_lost == sync_drill.objects_acknowledged


def test_cloud_only_steps_are_reported_as_recorded(sync_drill):
    assert any("dns.switch" in line and "Designate" in line for line in sync_drill.recorded_only)
    assert any("pulumi.flip" in line for line in sync_drill.recorded_only)


def test_automatic_drill_is_refused_without_witness():
    spec = platform([{"name": "db", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
                      "replication": "sync", "rpo": "0s"}])
    with pytest.raises(DrillError, match="no witness"):
        run_drill(spec, graph_for(spec), trigger="automatic")


def test_failback_copies_the_surviving_objects_back_into_the_returned_site(sync_drill):
    assert sync_drill.objects_missing_after_failback == 0
