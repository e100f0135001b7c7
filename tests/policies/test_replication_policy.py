"""MDC-REP-001: a database standby's sync/async claim needs a mechanism that realises it."""

from __future__ import annotations

from .fixtures import compliant, found


def test_rep001_accepts_a_logically_replicated_postgres_standby(pack):
    assert found(pack.analyze(compliant().graph())) == set()  # core-db-almaty: sync, logical


def test_rep001_rejects_a_replication_claim_on_a_backup_only_engine(pack):
    stack = compliant()
    stack.set_props("core-db-almaty", replication_mechanism="backup-only")  # as ClickHouse is deployed
    assert found(pack.analyze(stack.graph())) == {("MDC-REP-001", "core-db-almaty")}


def test_rep001_rejects_synchronous_redis(pack):
    stack = compliant()
    stack.set_system("core-db", kind="redis")
    stack.set_props("core-db-almaty", replication_mechanism="replicaof")
    violations = found(pack.analyze(stack.graph()))
    assert ("MDC-REP-001", "core-db-almaty") in violations
    assert {v for v in violations if v[0] == "MDC-REP-001"} == {("MDC-REP-001", "core-db-almaty")}


def test_rep001_accepts_asynchronous_redis(pack):
    stack = compliant()
    stack.set_system("core-db", kind="redis", replication="async", rpo_seconds=60)
    stack.set_props("core-db-almaty", replication_mechanism="replicaof")
    assert not {v for v in found(pack.analyze(stack.graph())) if v[0] == "MDC-REP-001"}
