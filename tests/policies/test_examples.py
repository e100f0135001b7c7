"""End to end: the real program planned offline, the real pack over the analyzer protocol.

Every example stack passes every mandatory policy, and a deliberately bad stack trips
exactly the policies it breaks.
"""

from __future__ import annotations

import copy

import pytest

from multidc.plan.analyzer import PolicyReport
from multidc.plan.capture import plan
from multidc.spec import parse_platform

EXAMPLES = ("kz-prod", "active-active", "hybrid", "backup-only")


def mandatory(report: PolicyReport) -> set[str]:
    return {v.policy_id for v in report.violations if v.enforcement == "mandatory"}


def listing(report: PolicyReport) -> str:
    return "\n".join(f"{v.policy_id} {v.urn}: {v.message}" for v in report.violations if v.enforcement == "mandatory")


@pytest.mark.parametrize("stack", EXAMPLES)
def test_example_stack_passes_every_mandatory_policy(stack, planned, pack):
    _, graph = planned(stack)
    report = pack.analyze(graph)
    assert report.ok, listing(report)


@pytest.mark.parametrize("stack", EXAMPLES)
def test_example_stack_raises_no_false_alarm_and_needs_no_waiver(stack, planned, pack):
    platform, graph = planned(stack)
    report = pack.analyze(graph)
    assert report.violations == (), "\n".join(f"{v.policy_id} {v.urn}: {v.message}" for v in report.violations)
    assert platform.waivers == []


def _site(name: str, role: str, country: str, latitude: float, longitude: float, zone: str, index: int) -> dict:
    return {"name": name, "role": role,
            "cloud": {"auth_url": f"https://infra.{name}.example:5000/v3", "region": name, "project": "bad"},
            "location": {"city": name.title(), "country": country, "latitude": latitude, "longitude": longitude,
                         "seismic_zone": zone},
            "cidr": f"10.{index}.0.0/16", "s3_endpoint": f"https://s3.{name}.example"}


# A spec that validates but breaks policies: Kosshy is 23 km from Astana and both are given a
# high seismic zone; Tashkent is in Uzbekistan; the VPN uses the weakest ciphers the spec takes.
# (A payment-card database cannot be made to break MDC-PCI-*: the components always give it its
# own network, an encrypted volume and a TLS configuration.)
BAD = {
    "name": "bad",
    "sites": [_site("astana", "primary", "KZ", 51.1694, 71.4491, "high", 1),
              _site("kosshy", "secondary", "KZ", 50.97, 71.35, "high", 2),
              _site("tashkent", "backup", "UZ", 41.2995, 69.2401, "moderate", 3)],
    "interconnect": {"ipsec": {"encryption": "aes-128", "auth": "sha1", "pfs": "group5"}},
    "systems": [
        # critical, one site, no backup: MDC-DR-001
        {"name": "ledger", "kind": "postgres", "tier": "critical", "sites": ["astana"], "topology": "single-site"},
        # critical, copies 23 km apart in high seismic zones, backups not immutable: MDC-DR-002, 003, BAK-003
        {"name": "accounts", "kind": "postgres", "tier": "critical", "sites": ["astana", "kosshy"],
         "topology": "active-passive", "replication": "sync", "rpo": "0s", "data_classes": ["personal"],
         "backup": {"offsite_site": "kosshy"}},
        # personal data copied to Uzbekistan: MDC-RES-001
        {"name": "exports", "kind": "bucket", "tier": "important", "sites": ["astana", "tashkent"],
         "topology": "active-passive", "rpo": "1h", "data_classes": ["personal"]},
        {"name": "ops", "kind": "kubernetes", "sites": ["astana", "kosshy", "tashkent"], "topology": "active-active",
         "size": {"count": 2, "min_count": 1, "max_count": 3}},
    ],
}
BAD_MANDATORY = {"MDC-DR-001", "MDC-DR-002", "MDC-DR-003", "MDC-BAK-003", "MDC-RES-001", "MDC-NET-004"}
BAD_ADVISORY = {"MDC-BAK-001"}  # ledger, exports and ops keep state without backups


def test_bad_stack_trips_exactly_the_policies_it_breaks(pack):
    report = pack.analyze(plan(parse_platform(BAD, "bad"), "bad"))
    assert mandatory(report) == BAD_MANDATORY, listing(report)
    assert {v.policy_id for v in report.violations if v.enforcement == "advisory"} == BAD_ADVISORY


def test_spec_waivers_and_stateless_systems_reach_the_pack(pack):
    """The spec's `waivers:` and `stateless:` through the components to the pack: the waived
    findings are shown with their reason and no longer block; the stateless cluster needs no backup."""
    spec = copy.deepcopy(BAD)
    next(s for s in spec["systems"] if s["name"] == "ops").update(
        stateless=True, stateless_reason="runs batch jobs only; their inputs and outputs live in buckets")
    spec["waivers"] = [
        {"policy": "MDC-DR-002", "system": "accounts", "reason": "Regulator letter 17/2026 accepts 23 km",
         "expires": "2099-12-31"},
        {"policy": "MDC-NET-004", "resource": "astana-kosshy-vpn-astana-ike", "reason": "Peer appliance upgrade, "
         "ticket NET-42", "expires": "2099-12-31"},
    ]
    report = pack.analyze(plan(parse_platform(spec, "bad"), "bad"))
    # accounts was the only system too close: DR-002 is gone; the other IKE policies still break NET-004
    assert mandatory(report) == BAD_MANDATORY - {"MDC-DR-002"}, listing(report)
    waived = {(v.policy_id, v.urn.rsplit("::", 1)[-1]) for v in report.violations if v.policy_id.startswith("MDC-PACK")}
    assert waived == {("MDC-PACK-003", "accounts-astana"), ("MDC-PACK-002", "astana-kosshy-vpn-astana-ike")}
    assert all("Regulator letter" in v.message or "ticket NET-42" in v.message
               for v in report.violations if v.policy_id.startswith("MDC-PACK"))
    assert not any(v.policy_id == "MDC-BAK-001" and "'ops'" in v.message for v in report.violations)
