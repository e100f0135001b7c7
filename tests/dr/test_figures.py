"""The figures behind the verdicts: each with its kind and source, and a stack's own values declared in its spec."""

import pytest
from rich.console import Console

from multidc.dr import assumptions as A
from multidc.dr.assessment import assess
from multidc.dr.render import figures_table
from multidc.dr.runbook import RunbookKind, build
from multidc.spec import Assumptions, Platform, SpecError, parse_platform

from .graphs import KARAGANDA, graph_for, platform

DB = {"name": "db", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
      "replication": "sync", "rpo": "0s", "rto": "15m", "size": {"volume_gb": 100},
      "backup": {"schedule": "0 */6 * * *", "immutable_days": 30, "offsite_site": "almaty"}}


def declaring(figures: dict, **spec) -> Platform:
    """The test platform with `assumptions:` as a user would write them, validated like a stack file."""
    data = platform([DB], witness=KARAGANDA, **spec).model_dump(mode="json", exclude_none=True)
    for site in data["sites"]:
        site["cloud"]["dns_zone"] = "bank.example.kz."
    return parse_platform({**data, "assumptions": figures})


def test_every_figure_but_the_watcher_settings_can_be_declared_by_a_stack():
    declarable = {A.spec_field(a.name) for a in A.ALL if a.name not in A.NOT_DECLARABLE}
    assert set(Assumptions.model_fields) == declarable


def test_every_figure_has_a_kind_and_a_source():
    assert all(a.kind in A.KINDS and a.kind != A.DECLARED and a.source.strip() for a in A.ALL)
    measured = [a for a in A.ALL if a.kind == A.MEASURED]
    assert all(a.source.startswith("measured locally (lower bound") and "benchmarks/" in a.source
               and "2026-" in a.source for a in measured), "a local figure says so, with its command and date"


def test_a_declared_figure_replaces_the_default_in_the_verdict_marked_declared_with_its_source():
    spec = declaring({"promote_s": {"value": "4s", "source": "our drill on 2026-11-03, worst of 5"}})
    result = assess(spec, graph_for(spec))
    assert "PROMOTE_S 4s" in result.outcome("db", "fire:astana").rto_formula
    promote = next(a for a in result.to_json()["assumptions"] if a["name"] == "PROMOTE_S")
    assert promote["kind"] == "declared" and promote["value"] == 4
    assert promote["source"] == "declared by stack test: our drill on 2026-11-03, worst of 5"
    untouched = next(a for a in result.to_json()["assumptions"] if a["name"] == "FENCE_S")
    assert untouched["kind"] == A.FENCE_S.kind


def test_a_declared_restore_rate_changes_the_restore_time():
    spec = declaring({"restore_mb_s": {"value": 512, "source": "provider restore test, ticket OPS-1"}})
    outcome = assess(spec, graph_for(spec, drop=[("db", "almaty")])).outcome("db", "fire:astana")
    assert "RESTORE_MB_S 512 MB/s" in outcome.rto_formula


def test_the_dns_step_sets_the_declared_ttl():
    spec = declaring({"dns_ttl_s": {"value": 30, "source": "our resolvers cap TTLs at 30 s"}})
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    (dns,) = [step for step in book.steps() if step.action == "dns.switch" and step.system == "db"]
    assert dns.param("ttl") == 30 and "TTL 30s" in dns.verification


def test_a_declared_failure_domain_decides_whether_the_witness_is_a_third_location():
    spec = declaring({"failure_domain_km": {"value": 1000, "source": "our regulator asks for 1000 km"}})
    problem = assess(spec, graph_for(spec)).automatic_failover
    assert problem is not None and "closer than 1000 km" in problem


@pytest.mark.parametrize("figures, path, phrase", [
    ({"promte_s": {"value": "4s", "source": "x"}}, "assumptions.promte_s", "did you mean 'promote_s'?"),
    ({"promote_s": {"value": "4s"}}, "assumptions.promote_s.source", "required field 'source' is missing"),
    ({"restore_mb_s": {"value": 0, "source": "x"}}, "assumptions.restore_mb_s.value", "greater than 0"),
    ({"lease_ttl_s": {"value": "1s", "source": "x"}}, "assumptions.lease_ttl_s",
     "unknown figure"),
])
def test_a_bad_declaration_is_refused_with_its_path_and_the_fix(figures, path, phrase):
    with pytest.raises(SpecError) as refused:
        declaring(figures)
    lines = [f"{p}: {reason}" for p, reason in refused.value.problems]
    assert any(line.startswith(f"{path}: ") and phrase in line for line in lines), lines


def test_an_unknown_figure_is_refused_naming_every_figure_a_stack_can_declare():
    with pytest.raises(SpecError) as refused:
        declaring({"boot_s": {"value": "1m", "source": "x"}})
    (reason,) = [reason for p, reason in refused.value.problems if p == "assumptions.boot_s"]
    assert all(field in reason for field in Assumptions.model_fields), reason


def test_the_plan_shows_each_figure_under_its_kind_and_a_declared_one_with_its_source():
    spec = declaring({"promote_s": {"value": "4s", "source": "our drill on 2026-11-03"}})
    console = Console(width=200, record=True)
    console.print(figures_table("test", A.figures(spec)))
    rows = {line.split("  ")[0]: line for line in console.export_text().splitlines()}
    assert "PROMOTE_S 4s (our drill on 2026-11-03)" in rows["declared by test"]
    assert "PROMOTE_S" not in rows.get("estimated (no source yet)", "") + rows.get("measured locally (lower bound)", "")
    assert "FAILURE_DOMAIN_KM 100 km" in rows["cited"]
