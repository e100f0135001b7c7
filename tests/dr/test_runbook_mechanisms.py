"""Each database step of a runbook is the one of the mechanism the system is deployed with."""

from __future__ import annotations

from dataclasses import replace

from multidc.dr.inventory import read
from multidc.dr.runbook import RunbookKind, build


def _steps(runbook, action: str) -> dict[str, object]:
    return {step.system: step for step in runbook.steps() if step.action == action}


def test_a_logically_replicated_system_is_reprotected_by_a_reverse_subscription_not_pg_rewind(planned):
    platform, graph = planned("kz-prod")
    runbook = build(platform, graph, RunbookKind.failback, "astana", "almaty")
    reprotect = _steps(runbook, "db.reprotect")["core-db"]
    assert "subscription" in reprotect.title and "pg_rewind" not in reprotect.verification
    assert "no pg_rewind" in reprotect.title
    assert "pg_subscription_rel" in reprotect.verification  # PostgreSQL's own catalog, not a generic check


def test_a_streaming_system_is_reprotected_with_pg_rewind(planned):
    platform, graph = planned("kz-prod")
    deployed = read(graph)
    streaming = replace(deployed, placements=tuple(
        replace(p, mechanism="physical-streaming") if p.mechanism == "logical" else p for p in deployed.placements))
    runbook = build(platform, streaming, RunbookKind.failback, "astana", "almaty")
    assert "(pg_rewind)" in _steps(runbook, "db.reprotect")["core-db"].title
    assert "pg_is_in_recovery()" in _steps(runbook, "db.promote")["core-db"].verification


def test_redis_steps_verify_with_info_replication(planned):
    platform, graph = planned("kz-prod")
    failover = build(platform, graph, RunbookKind.unplanned, "almaty")
    promote = _steps(failover, "db.promote")["sessions"]
    assert "REPLICAOF NO ONE" in promote.title and "INFO replication" in promote.verification
    assert "detach" in _steps(failover, "db.promote")["core-db"].title.lower()
