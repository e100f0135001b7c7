"""The DNS step's decisions (which addresses each zone copy ends up with) and its Designate copy.

openstacksdk's DNS proxy is replaced by a small stand-in that keeps recordsets in a dict; the
assertions are on that state (what Designate would hold), not on call echoes. The same step
against a real DNS server: tests/dr/test_dns_rfc2136.py and tests/ops/test_dns_failover.py.
"""

from types import SimpleNamespace

import pytest

from multidc.dr.backends import BackendError, RecordingBackend
from multidc.dr.designate import DesignateZone
from multidc.dr.dns import DeclaredName, ServiceNameBackend
from multidc.dr.runbook import Step
from multidc.dr.states import NeedsOperator

ZONE = "bank.example.kz."


class FakeDesignate:
    """Recordsets by (zone, name), as openstacksdk's `conn.dns` lists and updates them."""

    def __init__(self, zones):
        self.zones = set(zones)
        self.sets: dict[tuple[str, str], SimpleNamespace] = {}
        self.writes = 0

    def find_zone(self, name, ignore_missing=True):
        if name not in self.zones:
            raise LookupError(f"no zone {name}")
        return name

    def recordsets(self, zone, name, type):
        found = self.sets.get((zone, name))
        return [SimpleNamespace(**vars(found))] if found is not None and found.type == type else []

    def update_recordset(self, recordset, records, ttl):
        self.sets[(ZONE, recordset.name)].records, self.sets[(ZONE, recordset.name)].ttl = records, ttl
        self.writes += 1

    def create_recordset(self, zone, name, type, records, ttl):
        self.sets[(zone, name)] = SimpleNamespace(name=name, type=type, records=records, ttl=ttl)
        self.writes += 1

    def held(self, name):
        found = self.sets[(ZONE, name)]
        return sorted(found.records), found.ttl


def declared(system="core-db", active_active=False):
    addresses = {"astana": "10.10.0.5", "almaty": "10.20.0.5"} if not active_active else \
        {"astana": "198.51.100.1", "almaty": "198.51.100.2"}
    return DeclaredName(system=system, name=f"{system}.{ZONE}", zone=ZONE, type="A", ttl=180,
                        active_active=active_active, copies=("almaty", "astana"), site_addresses=addresses)


def dns_step(system="core-db", serve="almaty", lost="astana", site="almaty"):
    params = {"records": f"{system}.{ZONE}", "ttl": 180, "serve": serve, **({"lost": lost} if lost else {})}
    return Step(id=f"5.dns.switch.{system}", action="dns.switch", title="switch", site=site, system=system,
                precondition="", verification="", rollback="", params=tuple(sorted(params.items())))


def backend(copies, *names):
    return ServiceNameBackend({n.system: (n,) for n in names},
                              {site: DesignateZone(site, lambda d=d: SimpleNamespace(dns=d)) for site, d in copies.items()},
                              fallback=RecordingBackend("no DNS record"))


def two_sites(name, records, ttl):
    copies = {site: FakeDesignate({ZONE}) for site in ("astana", "almaty")}
    for designate in copies.values():
        designate.create_recordset(ZONE, name, "A", records, ttl)
        designate.writes = 0
    return copies


def test_active_passive_repoints_the_name_at_the_new_site_with_the_declared_ttl_in_the_surviving_copy():
    copies = two_sites(f"core-db.{ZONE}", ["10.10.0.5"], 3600)
    detail = backend(copies, declared()).run(dns_step())
    assert copies["almaty"].held(f"core-db.{ZONE}") == (["10.20.0.5"], 180)
    assert copies["astana"].held(f"core-db.{ZONE}") == (["10.10.0.5"], 3600), "the lost site's copy is not written"
    assert "astana: its copy of the zone is not written (the site is lost)" in detail


def test_active_active_removes_only_the_lost_sites_address_and_keeps_the_rest():
    copies = two_sites(f"web.{ZONE}", ["198.51.100.1", "198.51.100.2", "198.51.100.9"], 180)
    backend(copies, declared("web", active_active=True)).run(dns_step("web", serve="almaty"))
    assert copies["almaty"].held(f"web.{ZONE}") == (["198.51.100.2", "198.51.100.9"], 180)


def test_a_failback_writes_every_copy_and_gives_an_active_active_name_both_sites_again():
    copies = two_sites(f"web.{ZONE}", ["198.51.100.2"], 180)
    backend(copies, declared("web", active_active=True)).run(dns_step("web", serve="almaty,astana", lost=None,
                                                                      site="astana"))
    for designate in copies.values():
        assert designate.held(f"web.{ZONE}") == (["198.51.100.1", "198.51.100.2"], 180)


def test_switch_creates_the_record_when_the_zone_has_none_and_twice_writes_once():
    copies = {"almaty": FakeDesignate({ZONE}), "astana": FakeDesignate({ZONE})}
    dns = backend(copies, declared())
    dns.run(dns_step())
    assert "already" in dns.run(dns_step())
    assert copies["almaty"].held(f"core-db.{ZONE}") == (["10.20.0.5"], 180) and copies["almaty"].writes == 1


def test_a_system_without_a_declared_name_needs_an_operator_and_changes_nothing():
    copies = {"almaty": FakeDesignate({ZONE})}
    with pytest.raises(NeedsOperator, match=r"^not done \(no DNS record\)"):
        backend(copies).run(dns_step())
    assert copies["almaty"].sets == {}


def test_a_runbook_naming_another_record_than_the_deployed_stack_is_refused():
    step = Step(id="5.dns.switch.core-db", action="dns.switch", title="", site="almaty", system="core-db",
                precondition="", verification="", rollback="", params=(("records", "core-db.other.kz."),))
    with pytest.raises(BackendError, match="declares core-db.bank.example.kz."):
        backend({"almaty": FakeDesignate({ZONE})}, declared()).run(step)


def test_designate_errors_name_the_site_and_the_fix():
    with pytest.raises(BackendError, match="Designate of almaty: .*no zone.*clouds.yaml"):
        backend({"almaty": FakeDesignate(set()), "astana": FakeDesignate(set())}, declared()).run(dns_step())
