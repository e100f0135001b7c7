"""The DNS backend: one Designate recordset per service name, pointed at the new site.

openstacksdk's connection is replaced by a small fake that keeps recordsets in a dict;
the assertions are on that state (what Designate would hold), not on call echoes.
"""

from types import SimpleNamespace

import pytest

from multidc.dr.backends import DnsBackend, RecordingBackend
from multidc.dr.runbook import Step
from multidc.dr.states import NeedsOperator


class FakeDesignate:
    def __init__(self, zones):
        self.zones = set(zones)
        self.sets: dict[tuple[str, str], SimpleNamespace] = {}

    def find_zone(self, name, ignore_missing=True):
        if name not in self.zones:
            raise LookupError(f"no zone {name}")
        return name

    def recordsets(self, zone, name, type):
        found = self.sets.get((zone, name))
        return [found] if found is not None and found.type == type else []

    def update_recordset(self, recordset, records, ttl):
        recordset.records, recordset.ttl = records, ttl

    def create_recordset(self, zone, name, type, records, ttl):
        self.sets[(zone, name)] = SimpleNamespace(name=name, type=type, records=records, ttl=ttl)


def dns_step(system="core-db", site="almaty", ttl=30):
    return Step(id="5.dns.switch.core-db", action="dns.switch", title="switch", site=site, system=system,
                precondition="", verification="", rollback="",
                params=(("record", f"{system}.bank.example.kz."), ("ttl", ttl)))


def backend(designate, addresses):
    return DnsBackend(lambda site: SimpleNamespace(dns=designate), addresses,
                      fallback=RecordingBackend("no address"))


def test_switch_repoints_an_existing_record_with_the_low_ttl():
    designate = FakeDesignate({"bank.example.kz."})
    designate.create_recordset("bank.example.kz.", "core-db.bank.example.kz.", "A", ["10.10.0.5"], 3600)
    backend(designate, {("core-db", "almaty"): "10.20.0.5"}).run(dns_step())
    record = designate.sets[("bank.example.kz.", "core-db.bank.example.kz.")]
    assert (record.records, record.ttl) == (["10.20.0.5"], 30)


def test_switch_creates_the_record_when_the_zone_has_none():
    designate = FakeDesignate({"bank.example.kz."})
    backend(designate, {("core-db", "almaty"): "10.20.0.5"}).run(dns_step())
    assert designate.sets[("bank.example.kz.", "core-db.bank.example.kz.")].records == ["10.20.0.5"]


def test_switch_twice_leaves_the_same_single_record():
    designate = FakeDesignate({"bank.example.kz."})
    dns = backend(designate, {("core-db", "almaty"): "10.20.0.5"})
    dns.run(dns_step())
    dns.run(dns_step())
    assert list(designate.sets) == [("bank.example.kz.", "core-db.bank.example.kz.")]


def test_a_record_without_a_known_address_needs_an_operator_and_changes_nothing():
    designate = FakeDesignate({"bank.example.kz."})
    with pytest.raises(NeedsOperator, match=r"^not done \(no address\)"):
        backend(designate, {}).run(dns_step())
    assert designate.sets == {}
