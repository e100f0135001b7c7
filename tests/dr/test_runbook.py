"""Runbooks as data: order of groups, content of steps, refusals."""

import pytest

from multidc.dr.render import runbook_markdown
from multidc.dr.runbook import RunbookError, RunbookKind, build
from multidc.spec import load_stack

from .graphs import KARAGANDA, graph_for, platform

DB = {"name": "db", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
      "replication": "sync", "rpo": "0s", "rto": "15m"}
FILES = {"name": "files", "kind": "bucket", "sites": ["astana", "almaty"], "topology": "active-passive", "rpo": "1h"}


def _actions(book):
    return [[step.action for step in group.steps] for group in book.groups]


def test_unplanned_failover_fences_before_it_promotes():
    spec = platform([DB, FILES], witness=KARAGANDA)
    groups = _actions(build(spec, graph_for(spec), RunbookKind.unplanned, "almaty"))
    fence = next(i for i, g in enumerate(groups) if "db.fence" in g)
    promote = next(i for i, g in enumerate(groups) if "db.promote" in g)
    assert groups[0] == ["decide.declare"] and fence < promote
    assert "storage.switch" in groups[promote]
    assert groups[-1] == ["pulumi.flip"]


def test_every_step_names_site_owner_precondition_verification_and_rollback():
    spec = platform([DB, FILES], witness=KARAGANDA)
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    for step in book.steps():
        assert step.site and step.owner in ("customer", "provider"), step.id
        assert step.precondition and step.verification and step.rollback, step.id
    assert any(step.owner == "provider" for step in book.steps())


def test_fence_targets_the_old_site_and_promote_the_new_one():
    spec = platform([DB], witness=KARAGANDA)
    steps = {s.action: s for s in build(spec, graph_for(spec), RunbookKind.unplanned, "almaty").steps()}
    assert steps["db.fence"].site == "astana" and steps["db.promote"].site == "almaty"


def test_planned_switchover_waits_for_replay_before_promoting_and_reprotects():
    spec = platform([DB], witness=KARAGANDA)
    groups = _actions(build(spec, graph_for(spec), RunbookKind.planned, "almaty"))
    flat = [a for g in groups for a in g]
    assert flat.index("db.fence") < flat.index("db.wait_replay") < flat.index("db.promote") < flat.index("db.reprotect")


def test_failback_reprotects_first_then_switches_back():
    spec = platform([DB, FILES], witness=KARAGANDA)
    book = build(spec, graph_for(spec), RunbookKind.failback, "astana", from_site="almaty")
    assert book.from_site == "almaty" and book.to_site == "astana"
    first = book.groups[0].steps
    assert {s.action for s in first} == {"db.reprotect", "storage.reverse_copy"}
    assert all(s.site == "astana" for s in first)
    promote = next(s for s in book.steps() if s.action == "db.promote")
    assert promote.site == "astana"


def test_test_failover_touches_no_production_step():
    spec = platform([DB, FILES], witness=KARAGANDA)
    actions = {s.action for s in build(spec, graph_for(spec), RunbookKind.test, "almaty").steps()}
    assert actions.isdisjoint({"db.fence", "db.promote", "dns.switch", "storage.switch", "pulumi.flip"})
    assert "db.clone_test" in actions and "net.isolated" in actions


def test_runbook_without_witness_says_why_automatic_failover_is_refused():
    spec = platform([DB])
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    assert book.automatic and "no witness" in book.automatic
    assert "**refused**: no witness" in runbook_markdown(book)


def test_failover_to_the_primary_site_is_refused_with_the_fix():
    spec = platform([DB])
    with pytest.raises(RunbookError, match="already the primary site.*almaty"):
        build(spec, graph_for(spec), RunbookKind.unplanned, "astana")


def test_failover_to_unknown_site_names_the_known_sites():
    spec = platform([DB])
    with pytest.raises(RunbookError, match="no such site.*astana, almaty"):
        build(spec, graph_for(spec), RunbookKind.unplanned, "shymkent")


def test_system_without_copy_in_target_site_is_named_in_the_notes():
    spec = platform([{**DB, "sites": ["astana"], "topology": "single-site", "replication": None, "rpo": "1d"}])
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    assert any(note.startswith("db has no standby") for note in book.notes)


def test_kz_prod_failover_moves_every_astana_standby_system():
    spec = load_stack("kz-prod")
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    promoted = {s.system for s in book.steps() if s.action == "db.promote"}
    assert promoted == {"core-db", "cards-db", "sessions"}
    assert {s.system for s in book.steps() if s.action == "storage.switch"} == {"documents", "datasets"}


def test_fingerprint_changes_with_the_plan():
    spec = platform([DB, FILES], witness=KARAGANDA)
    with_bucket = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    without = build(spec, graph_for(spec, drop=[("files", "almaty")]), RunbookKind.unplanned, "almaty")
    assert with_bucket.fingerprint != without.fingerprint


def test_warm_standby_vm_group_is_scaled_by_the_pulumi_flip_not_kubernetes():
    shop = {"name": "shop", "kind": "vm-group", "sites": ["astana", "almaty"], "topology": "active-passive",
            "rto": "30m"}
    spec = platform([shop])
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    assert not any(s.action == "k8s.scale" and s.system == "shop" for s in book.steps())
    assert any(s.action == "pulumi.flip" for s in book.steps())


SOUTH = {**DB, "name": "south", "sites": ["almaty", "astana"]}


def test_unplanned_failover_relaxes_sync_on_a_surviving_primary_whose_standby_is_lost():
    spec = platform([DB, SOUTH], witness=KARAGANDA)
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    relax = [s for s in book.steps() if s.action == "db.relax"]
    assert [(s.system, s.site, s.owner) for s in relax] == [("south", "almaty", "customer")]
    group = next(i for i, g in enumerate(_actions(book)) if "db.relax" in g)
    assert group == 1 and "db.fence" in _actions(book)[group]
    assert "astana" in relax[0].precondition and "commits" in relax[0].verification
    assert "standby streams again" in relax[0].rollback


def test_unplanned_failover_does_not_relax_an_async_or_failed_over_system():
    spec = platform([DB, {**SOUTH, "replication": "async", "rpo": "1m"}], witness=KARAGANDA)
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    assert not any(s.action == "db.relax" for s in book.steps())


def test_failback_switches_back_only_what_the_failover_moved():
    spec = platform([DB, SOUTH, FILES, {**FILES, "name": "south-files", "sites": ["almaty", "astana"]}],
                    witness=KARAGANDA)
    book = build(spec, graph_for(spec), RunbookKind.failback, "astana", from_site="almaty")
    moved = {s.system for s in book.steps() if s.action in ("db.promote", "storage.switch", "storage.final_copy",
                                                            "db.fence", "dns.switch")}
    assert moved == {"db", "files"}
    flip = next(s for s in book.steps() if s.action == "pulumi.flip")
    assert "south" not in flip.param("systems").split(",")


def test_failback_reprotects_the_standby_of_a_system_that_stayed_in_the_interim_site():
    spec = platform([DB, SOUTH, {**FILES, "name": "south-files", "sites": ["almaty", "astana"]}], witness=KARAGANDA)
    book = build(spec, graph_for(spec), RunbookKind.failback, "astana", from_site="almaty")
    first = {(s.action, s.system, s.site) for s in book.groups[0].steps}
    assert ("db.reprotect", "south", "astana") in first
    assert ("storage.reverse_copy", "south-files", "astana") in first
    south = next(s for s in book.groups[0].steps if s.system == "south")
    assert south.param("mode") == "sync"
