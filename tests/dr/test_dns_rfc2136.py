"""The DNS step's zone copy on a real DNS server (Knot, started here on loopback): RFC 2136 updates signed
with TSIG, compare-and-swap, verified by a query. The whole failover through `multidc failover` is in
tests/ops/test_dns_failover.py.
"""

import base64

import dns.name

import pytest

from multidc.dr.backends import BackendError
from multidc.dr.dns import DnsServer, RecordChange, Rfc2136Zone
from multidc.local.dns import LocalDns

ZONE = "bank.example.kz."
NAME = f"web.{ZONE}"


@pytest.fixture(scope="module")
def knot():
    with LocalDns(ZONE, {"web": (["198.51.100.1", "198.51.100.2"], 180), "core-db": ("10.10.0.5", 300)}) as running:
        yield running


def copy_on(server, secret=None):
    return Rfc2136Zone(DnsServer(address=server.host, port=server.port, zone=ZONE, key_name=server.key_name,
                                 key_secret=secret or server.key_secret))


def test_an_update_signed_with_the_wrong_key_is_refused_and_changes_nothing(knot):
    wrong = copy_on(knot, secret=base64.b64encode(b"x" * 32).decode())
    change = RecordChange(NAME, ZONE, "A", 180, write=("198.51.100.2",), drop=("198.51.100.1",), replace=False)
    with pytest.raises(BackendError, match="(refused|failed).*TSIG key"):
        wrong.apply(change)
    assert copy_on(knot).ask(dns.name.from_text(NAME), "A") == (
        frozenset({"198.51.100.1", "198.51.100.2"}), 180)


def test_removing_the_last_address_of_a_name_is_refused_and_changes_nothing(knot):
    change = RecordChange(f"core-db.{ZONE}", ZONE, "A", 300, write=(), drop=("10.10.0.5",), replace=False)
    with pytest.raises(BackendError, match="would leave the name without an address"):
        copy_on(knot).apply(change)
    assert copy_on(knot).ask(dns.name.from_text(f"core-db.{ZONE}"), "A") == (frozenset({"10.10.0.5"}), 300)


def test_a_record_outside_the_servers_zone_is_refused():
    server = DnsServer(address="127.0.0.1", port=9, zone=ZONE, key_name="k", key_secret="")
    with pytest.raises(BackendError, match="not in the zone"):
        Rfc2136Zone(server).apply(RecordChange("core-db.other.kz.", "other.kz.", "A", 60, write=("10.0.0.1",)))
