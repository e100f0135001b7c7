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
