"""Waivers and stateless systems, as the Platform and placement components carry them to the
pack: a waived finding is still shown (MDC-PACK-002/003, advisory, with its reason) and no
longer blocks; a waiver that cannot be honoured waives nothing and is a violation (MDC-PACK-004)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from multidc.contract import (STATELESS, STATELESS_REASON, WAIVER_EXPIRES, WAIVER_POLICY, WAIVER_REASON,
                              WAIVER_RESOURCE, WAIVER_SYSTEM, WAIVERS)

from .fixtures import Stack, compliant, with_cards
from .test_analyzer import violating
from .test_policies import check

SSH_RULE = "astana-internal-ssh-10.10.0.0_16"
NEXT_YEAR = (date.today() + timedelta(days=365)).isoformat()
REASON = "Bastion migration, ticket OPS-1234"


def waiver(policy: str, *, resource: str = "", system: str = "", reason: str = REASON,
           expires: str = NEXT_YEAR) -> dict[str, Any]:
    entry = {WAIVER_POLICY: policy, WAIVER_REASON: reason, WAIVER_EXPIRES: expires}
    return {**entry, **({WAIVER_RESOURCE: resource} if resource else {}), **({WAIVER_SYSTEM: system} if system else {})}


def test_waived_resource_finding_is_shown_with_its_reason_and_does_not_block(pack):
    stack = violating()
    stack.set_props("kz", **{WAIVERS: [waiver("MDC-NET-001", resource=SSH_RULE)]})
    report = pack.analyze(stack.graph())
    assert report.ok
    (shown,) = report.violations
    assert (shown.policy_id, shown.enforcement, shown.urn) == ("MDC-PACK-002", "advisory", stack.urn(SSH_RULE))
    assert shown.message.startswith(f"MDC-NET-001 waived for resource '{SSH_RULE}' until {NEXT_YEAR}: {REASON}.")
    assert "admits 0.0.0.0/0 on port 22" in shown.message


def test_waived_stack_finding_of_one_system_leaves_the_others_reported(pack):
    stack = compliant()
    stack.set_props("almaty", latitude=51.30, longitude=71.90)  # ~35 km from Astana
    stack.set_props("kz", **{WAIVERS: [waiver("mdc-dr-002-site-distance", system="core-db")]})
    assert check(pack, stack) == {("MDC-PACK-003", "core-db-astana"), ("MDC-DR-002", "documents-astana")}


def test_expired_waiver_waives_nothing_and_is_a_violation(pack):
    stack = violating()
    stack.set_props("kz", **{WAIVERS: [waiver("MDC-NET-001", resource=SSH_RULE, expires="2020-01-31")]})
    report = pack.analyze(stack.graph())
    assert {(v.policy_id, v.enforcement) for v in report.violations} == {
        ("MDC-NET-001", "mandatory"), ("MDC-PACK-004", "mandatory")}
    assert "it expired on 2020-01-31" in next(v.message for v in report.violations if v.policy_id == "MDC-PACK-004")


def test_waiver_without_reason_or_naming_an_unknown_policy_is_a_violation(pack):
    stack = violating()
    stack.set_props("kz", **{WAIVERS: [waiver("MDC-NET-001", resource=SSH_RULE, reason=" "),
                                       waiver("MDC-NET-999", resource=SSH_RULE)]})
    report = pack.analyze(stack.graph())
    problems = sorted(v.message for v in report.violations if v.policy_id == "MDC-PACK-004")
    assert len(problems) == 2
    assert "it gives no reason" in problems[0]
    assert "names policy 'MDC-NET-999', which is not a policy of this pack" in problems[1]
    assert any(v.policy_id == "MDC-NET-001" for v in report.violations)


def test_waivers_of_one_stack_do_not_carry_over_to_the_next(pack):
    waived = violating()
    waived.set_props("kz", **{WAIVERS: [waiver("MDC-NET-001", resource=SSH_RULE)]})
    pack.analyze(waived.graph())
    unwaived = Stack()  # the same stack, no Platform this time: nothing to learn waivers from
    unwaived.add("openstack:networking/secGroupRule:SecGroupRule", SSH_RULE, inputs={
        "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22,
        "remoteIpPrefix": "0.0.0.0/0", "securityGroupId": "sg"})
    assert check(pack, unwaived) == {("MDC-NET-001", SSH_RULE)}


# --- stateless systems ---------------------------------------------------------------------------

def _documents_without_backup():
    stack = compliant()
    stack.remove("documents-backup-almaty")
    stack.set_system("documents", backup=None)
    return stack


def test_bak001_advises_a_backup_for_a_system_that_says_nothing(pack):
    assert check(pack, _documents_without_backup()) == {("MDC-BAK-001", "documents-astana")}


def test_bak001_respects_a_system_declared_stateless(pack):
    stack = _documents_without_backup()
    stack.set_system("documents", **{STATELESS: True, STATELESS_REASON: "a render cache, rebuilt from core-db"})
    assert check(pack, stack) == set()


def test_system_waiver_covers_the_resources_declared_under_the_system(pack):
    stack = with_cards(compliant())
    stack.set_inputs("cards-db-astana-0", users=[{"name": "app", "password": "in-plain-text-1"}])
    assert check(pack, stack) == {("MDC-SEC-001", "cards-db-astana-0")}
    stack.set_props("kz", **{WAIVERS: [waiver("MDC-SEC-001", system="cards-db")]})
    assert check(pack, stack) == {("MDC-PACK-002", "cards-db-astana-0")}
