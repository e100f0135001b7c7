"""The assessment on kz-prod's planned graph: archived PostgreSQL systems lose their archive lag to ransomware."""

from multidc.contract import ARCHIVE_TIMEOUT_S
from multidc.dr.assessment import assess


def test_archived_postgres_ransomware_rpo_is_the_archive_lag_not_the_dump_interval(planned):
    platform, graph = planned("kz-prod")
    result = assess(platform, graph)
    for system in ("core-db", "cards-db"):
        outcome = result.outcome(system, "ransomware")
        assert outcome.survives and outcome.rpo_s == ARCHIVE_TIMEOUT_S, (system, outcome.rpo_formula)
        assert "WAL archived continuously" in outcome.rpo_formula


def test_rpo_zero_against_ransomware_is_flagged_as_impossible_with_the_best_figure(planned):
    platform, graph = planned("kz-prod")
    outcome = assess(platform, graph).outcome("core-db", "ransomware")
    assert outcome.rpo_target_s == 0 and not outcome.meets_rpo
    assert "RPO of 0 cannot be met against ransomware" in outcome.reason
    assert f"the best achievable is {ARCHIVE_TIMEOUT_S}s" in outcome.reason
