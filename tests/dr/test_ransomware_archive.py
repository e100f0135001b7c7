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
