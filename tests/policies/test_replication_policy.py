"""MDC-REP-001: a database standby's sync/async claim needs a mechanism that realises it.
MDC-REP-002: Trove PostgreSQL replicated logically carries the server parameters its customer cannot set."""

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


def rep002(report):
    return {v for v in found(report) if v[0] == "MDC-REP-002"}


def test_rep002_rejects_logical_replication_on_trove_without_its_configuration_group(pack):
    stack = compliant()
    for site in ("astana", "almaty"):
        stack.remove(f"core-db-{site}-parameters")
        stack.set_dependencies(f"core-db-{site}-0", [f"{site}-network", f"core-db-{site}-password"])
        stack.set_inputs(f"core-db-{site}-0", configurationId=None)
    assert rep002(pack.analyze(stack.graph())) == {("MDC-REP-002", "core-db-astana-0"),
                                                   ("MDC-REP-002", "core-db-almaty-0")}


def test_rep002_rejects_a_sync_primary_whose_group_names_no_subscription(pack):
    stack = compliant()
    stack.set_inputs("core-db-astana-parameters", configurations=[{"name": "wal_level", "value": "logical"}])
    report = pack.analyze(stack.graph())
    assert rep002(report) == {("MDC-REP-002", "core-db-astana-0")}
    (violation,) = [v for v in report.violations if v.policy_id == "MDC-REP-002"]
    assert "synchronous_standby_names naming multidc_core_db_almaty" in violation.message


def test_rep002_accepts_an_async_primary_without_synchronous_standby_names(pack):
    stack = compliant()
    stack.set_system("core-db", replication="async", rpo_seconds=60)
    stack.set_inputs("core-db-astana-parameters", configurations=[{"name": "wal_level", "value": "logical"}])
    assert rep002(pack.analyze(stack.graph())) == set()
