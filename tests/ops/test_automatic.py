"""The lease as evidence: `manual.isolate` done on a verified fencing token, and `status` saying whether automatic
failover is armed; on a real three-member etcd cluster (one member per site plus the witness)."""

import pytest
from typer.testing import CliRunner

from multidc.cli import app
from multidc.dr.backends import RecordingBackend
from multidc.dr.runbook import RunbookKind, build
from multidc.dr.states import NeedsOperator
from multidc.local.etcd import LocalEtcd
from multidc.ops.isolation import LeaseIsolation
from multidc.ops.lease import Etcd, Presence, SiteLease, lease_key
from multidc.ops.outputs import parse
from multidc.ops.status import automatic_failover
from multidc import project
from multidc.spec import load_stack
from tests.dr.graphs import KARAGANDA, graph_for, platform

DB = {"name": "db", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
      "replication": "sync", "rpo": "0s"}


@pytest.fixture(scope="module")
def etcd():
    with LocalEtcd(["astana", "almaty", "karaganda"]) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def book():
    spec = platform([DB], witness=KARAGANDA)
    return build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")


def _isolate(book):
    return next(step for step in book.steps() if step.action == "manual.isolate")


def _evidence(etcd, stack, token, taking_over="almaty"):
    return LeaseIsolation(Etcd(etcd.endpoint("almaty")), lease_key(stack), "astana", taking_over, token,
                          fallback=RecordingBackend("ask the provider; confirm in writing"))


def test_isolation_is_done_on_the_lease_held_by_the_site_taking_over_with_the_token(etcd, book):
    token = SiteLease(Etcd(etcd.endpoint("almaty")), lease_key("held"), "almaty", 30).acquire()
    detail = _evidence(etcd, "held", token).run(_isolate(book))
    assert f"almaty holds {lease_key('held')} with fencing token {token}" in detail
    assert "last renewal sent + ttl - margin" in detail and "watcher is dead" in detail and "watchdog" in detail


def test_isolation_needs_an_operator_when_the_token_is_not_the_holders(etcd, book):
    token = SiteLease(Etcd(etcd.endpoint("almaty")), lease_key("stale"), "almaty", 30).acquire()
    with pytest.raises(NeedsOperator, match=f"By hand.*not by almaty with {token - 1}"):
        _evidence(etcd, "stale", token - 1).run(_isolate(book))


def test_isolation_needs_an_operator_when_another_site_holds_the_lease(etcd, book):
    token = SiteLease(Etcd(etcd.endpoint("astana")), lease_key("other"), "astana", 30).acquire()
    with pytest.raises(NeedsOperator, match="held by astana"):
        _evidence(etcd, "other", token).run(_isolate(book))


def test_isolation_needs_an_operator_when_nobody_holds_the_lease(etcd, book):
    with pytest.raises(NeedsOperator, match="nobody holds"):
        _evidence(etcd, "nobody", 7).run(_isolate(book))


def test_isolation_needs_an_operator_when_etcd_does_not_answer(book):
    evidence = LeaseIsolation(Etcd("http://127.0.0.1:9", timeout=0.2), lease_key("x"), "astana", "almaty", 7,
                              fallback=RecordingBackend("ask the provider"))
    with pytest.raises(NeedsOperator, match="could not be read"):
        evidence.run(_isolate(book))


def test_other_manual_steps_still_need_an_operator_with_a_verified_lease(etcd, book):
    token = SiteLease(Etcd(etcd.endpoint("almaty")), lease_key("others"), "almaty", 30).acquire()
    decide = next(step for step in book.steps() if step.action == "decide.declare")
    with pytest.raises(NeedsOperator):
        _evidence(etcd, "others", token).run(decide)


def test_fencing_token_without_etcd_is_refused_before_anything_runs(outputs_file, tmp_path):
    result = CliRunner().invoke(app, ["failover", "--stack", "kz-prod", "--to", "almaty", "--outputs",
                                      str(outputs_file()), "--yes", "--fencing-token", "4",
                                      "--journal", str(tmp_path / "j")])
    assert result.exit_code == 2 and "--fencing-token and --etcd go together" in result.output
    assert not (tmp_path / "j").exists()


@pytest.fixture(scope="module")
def kz():
    return load_stack("kz-prod", project.root())


@pytest.fixture
def document(planned_outputs):
    return parse(planned_outputs, "test")


def test_status_says_armed_with_the_holder_token_and_the_site_that_would_take_over(etcd, kz, document):
    token = SiteLease(Etcd(etcd.endpoint("astana")), lease_key("armed"), "astana", 30).acquire()
    Presence(Etcd(etcd.endpoint("almaty")), "armed", "almaty", 30).beat("astana")
    found = automatic_failover(kz, "armed", document, etcd.endpoint("karaganda"))
    assert (found.state, found.holder, found.token) == ("armed", "astana", token)
    assert "watcher in almaty fails over" in found.reason


def test_status_is_not_armed_when_no_other_watcher_has_seen_the_holder(etcd, kz, document):
    SiteLease(Etcd(etcd.endpoint("astana")), lease_key("alone"), "astana", 30).acquire()
    found = automatic_failover(kz, "alone", document, etcd.endpoint("almaty"))
    assert found.state == "not-armed" and "nobody would take over" in found.reason


def test_status_is_not_armed_when_nobody_holds_the_lease(etcd, kz, document):
    found = automatic_failover(kz, "unheld", document, etcd.endpoint("almaty"))
    assert found.state == "not-armed" and "nobody holds" in found.reason


def test_status_is_unknown_when_no_etcd_member_answers(kz, document):
    found = automatic_failover(kz, "kz-prod", document, "http://127.0.0.1:9")
    assert found.state == "unknown" and "127.0.0.1:9" in found.reason


def test_status_is_unknown_without_any_member_known(kz, document):
    found = automatic_failover(kz, "kz-prod", document)  # the planned document names no etcd member
    assert found.state == "unknown" and "--etcd" in found.reason


def test_status_refuses_without_a_witness_in_the_runbooks_words(document):
    spec = platform([DB])
    found = automatic_failover(spec, "kz-prod", document, "http://127.0.0.1:9")
    book = build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")
    assert found.state == "refused" and found.reason == book.automatic and "no witness" in found.reason
