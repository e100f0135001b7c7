"""The assessment on kz-prod's planned graph: archived PostgreSQL systems lose their archive lag to ransomware,
and only while their archive host exists in the graph (Trove keeps archive_command to itself)."""

import dataclasses

from multidc.contract import ARCHIVE_HOST, ARCHIVE_TIMEOUT_S
from multidc.dr.assessment import assess
from multidc.dr.assumptions import ASYNC_LAG_S

# What is lost: the primary's commits the archive host has not applied yet, then at most archive_timeout.
HOST_RPO_S = ARCHIVE_TIMEOUT_S + ASYNC_LAG_S.value


def without_archive_hosts(graph):
    """The graph with every ArchiveHost and what it declares taken out."""
    hosts = {node.urn for node in graph.components(ARCHIVE_HOST)}
    gone = hosts | {d.urn for urn in hosts for d in graph.descendants(urn)}
    return dataclasses.replace(graph, nodes=tuple(node for node in graph.nodes if node.urn not in gone))


def test_archived_postgres_ransomware_rpo_is_the_archive_lag_not_the_dump_interval(planned):
    platform, graph = planned("kz-prod")
    result = assess(platform, graph)
    for system in ("core-db", "cards-db", "mlflow-db"):
        outcome = result.outcome(system, "ransomware")
        assert outcome.survives and outcome.rpo_s == HOST_RPO_S, (system, outcome.rpo_formula)
        assert "WAL archived continuously by the archive host" in outcome.rpo_formula, outcome.rpo_formula


def test_a_managed_postgres_without_its_archive_host_falls_back_to_the_dump_interval(planned):
    platform, graph = planned("kz-prod")
    outcome = assess(platform, without_archive_hosts(graph)).outcome("core-db", "ransomware")
    assert outcome.rpo_s == 6 * 3600, outcome.rpo_formula  # core-db's pg_dump every 6 hours
    assert "no archive host runs it" in outcome.rpo_formula, outcome.rpo_formula


def test_rpo_zero_against_ransomware_is_flagged_as_impossible_with_the_best_figure(planned):
    platform, graph = planned("kz-prod")
    outcome = assess(platform, graph).outcome("core-db", "ransomware")
    assert outcome.rpo_target_s == 0 and not outcome.meets_rpo
    assert "RPO of 0 cannot be met against ransomware" in outcome.reason
    assert f"the best achievable is {HOST_RPO_S:g}s" in outcome.reason


def test_a_delayed_standby_meets_the_ransomware_rto_when_the_attack_is_found_within_its_delay(planned):
    platform, graph = planned("kz-prod")
    result = assess(platform, graph)
    for system in ("core-db", "cards-db"):
        outcome = result.outcome(system, "ransomware")
        # 1h x WAL_REPLAY_RATIO 0.1 + PROMOTE_S 7.3 s + the declared DNS TTL 3m: no provisioning, no volume copy.
        assert outcome.rto_s == 3600 * 0.1 + 7.3 + 180 and outcome.meets_rto, (system, outcome.rto_formula)
        assert "RESTORE_PROVISION_S" not in outcome.rto_formula and "RESTORE_MB_S" not in outcome.rto_formula
        assert "when the attack is found within 1h; found later: the vault restore" in outcome.reason
        assert outcome.fallback_rto_s > 3 * 3600 and "RESTORE_MB_S" in outcome.fallback_rto_formula
        entry = outcome.to_json()
        assert entry["fallback_rto_seconds"] == outcome.fallback_rto_s and entry["rto_seconds"] == outcome.rto_s
    # What stays flagged under ransomware is only what the spec asks for the impossible (RPO 0).
    flagged = [(o.system, o.scenario, o.meets_rpo, o.meets_rto) for o in result.flagged]
    assert flagged == [("core-db", "ransomware", False, True), ("cards-db", "ransomware", False, True)]


def test_without_the_delayed_standby_the_vault_restore_is_the_verdict_and_says_why_it_is_slow(planned):
    from multidc.plan.capture import plan
    from multidc.spec import Platform

    platform, _ = planned("kz-prod")
    data = platform.model_dump(mode="json", exclude_none=True)
    for system in data["systems"]:
        if system.get("backup"):
            system["backup"].pop("delayed_standby", None)
    plain = Platform.model_validate(data)
    outcome = assess(plain, plan(plain, "kz-prod")).outcome("core-db", "ransomware")
    assert not outcome.meets_rto and outcome.fallback_rto_s is None
    assert "copies the whole volume from the vault" in outcome.reason
