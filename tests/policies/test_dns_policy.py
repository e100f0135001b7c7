"""MDC-DNS-001 through the real pack process: a service name whose TTL outlives the RTO of the
system it names is flagged; one derived from the RTO is not; and kz-prod's planned names pass."""

from __future__ import annotations

from multidc.spec.service_names import ttl_for_rto
from multidc.contract import SERVICE_NAMES

from .fixtures import Stack, compliant, found


def with_service_names(stack: Stack, ttl: int) -> Stack:
    """core-db's name in each site's zone, as multidc.components.dns declares it (RTO 900 s)."""
    for site in ("astana", "almaty"):
        component = f"{site}-dns"
        record = {"system": "core-db", "name": "core-db.bank.example.kz.", "type": "A", "ttl": ttl,
                  "rto_seconds": 900, "visibility": "private"}
        stack.component(SERVICE_NAMES, component, {"site": site, "zone": "bank.example.kz.", "records": [record]},
                        parent="kz")
        on_site = {"parent": component, "provider": f"{site}-openstack"}
        stack.add("openstack:dns/zone:Zone", f"{component}-zone", **on_site,
                  inputs={"name": "bank.example.kz.", "email": "hostmaster@bank.example.kz", "ttl": 3600})
        stack.add("openstack:dns/recordSet:RecordSet", f"{component}-core-db", **on_site, inputs={
            "zoneId": f"{component}-zone-id", "name": "core-db.bank.example.kz.", "type": "A", "ttl": ttl,
            "records": ["10.10.0.5"]})
    return stack


def test_dns001_rejects_a_ttl_longer_than_the_rto(pack):
    report = pack.analyze(with_service_names(compliant(), ttl=3600).graph())
    assert found(report) == {("MDC-DNS-001", "astana-dns-core-db"), ("MDC-DNS-001", "almaty-dns-core-db")}
    message = next(v.message for v in report.violations if v.policy_id == "MDC-DNS-001")
    assert "TTL 3600s" in message and "RTO of 900s" in message


def test_dns001_accepts_the_ttl_derived_from_the_rto(pack):
    assert ttl_for_rto(900) == 180
    assert found(pack.analyze(with_service_names(compliant(), ttl=ttl_for_rto(900)).graph())) == set()


def test_kz_prod_service_names_pass_the_pack(pack, planned):
    _, graph = planned("kz-prod")
    records = [node for node in graph if node.type == "openstack:dns/recordSet:RecordSet"]
    assert records, "kz-prod declares service names"
    assert not {v for v in found(pack.analyze(graph)) if v[0] == "MDC-DNS-001"}
