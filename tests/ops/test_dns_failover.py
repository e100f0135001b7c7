"""`multidc failover` re-points exactly the declared service names on real DNS servers, and nothing else.

Two Knot servers on loopback hold the two sites' copies of kz-prod's zone: the records the
program declares (from its planned outputs) and other records the zone holds (mail, aliases,
services, a name the stack does not own). The outputs document is kz-prod's planned one with
each site's `dns_server` pointing at its Knot (TSIG key) and no data endpoints (nothing to
reach here: the database, storage and cluster steps are confirmed by the operator, which
never stands in for a step a backend can do). The production command runs as its own
process; AXFR of both copies before and after proves what changed. Test time: ~8 s (two Knot
servers, one `multidc failover` process).
"""

import copy
import json

import dns.query
import dns.rdata
import dns.rdatatype
import dns.tsigkeyring
import dns.zone

from multidc.dr.runbook import RunbookKind, build
from multidc.local.dns import LocalDns
from multidc.ops.deployed import deployed
from multidc.ops.outputs import parse
from multidc.spec import load_stack
from tests.helpers import run_multidc

ZONE = "bank.example.kz."
# Records of the zone that no system declares: the failover must leave every byte of them alone.
OTHERS = ['www 600 CNAME web', 'mail 3600 MX 10 mx', 'mx 3600 A 192.0.2.25', 'note 300 TXT "kept as is"',
          '_https._tcp 300 SRV 10 5 443 web', 'legacy 600 A 10.10.99.9']


def transfer(server):
    """The whole zone by AXFR: {(name, type): (ttl, canonical wire form of each record)}."""
    keyring = dns.tsigkeyring.from_text({server.key_name: server.key_secret})
    zone = dns.zone.from_xfr(dns.query.xfr(server.host, ZONE, port=server.port, keyring=keyring,
                                           keyname=server.key_name, lifetime=10))
    return {(str(name), dns.rdatatype.to_text(rdataset.rdtype)): (rdataset.ttl, sorted(r.to_digestable(zone.origin)
                                                                                        for r in rdataset))
            for name, node in zone.nodes.items() for rdataset in node.rdatasets}


def declared_records(planned):
    """The A records the program declares: {name relative to the zone: (addresses, ttl)}."""
    return {name["name"][:-len(ZONE) - 1]: (name["records"], int(name["ttl"]))
            for system in planned["systems"].values() for name in system["service_names"]}


def test_failover_changes_exactly_the_declared_records_with_the_declared_ttl(project_copy, planned_outputs):
    planned = copy.deepcopy(planned_outputs)
    with LocalDns(ZONE, declared_records(planned), lines=OTHERS) as astana, \
            LocalDns(ZONE, declared_records(planned), lines=OTHERS) as almaty:
        servers = {"astana": astana, "almaty": almaty}
        for site, server in servers.items():
            planned["sites"][site]["dns_server"] = {"address": server.host, "port": server.port, "zone": ZONE,
                                                    "tsig_key_name": server.key_name, "tsig_secret": server.key_secret}
        for system in planned["systems"].values():
            for placement in system["placements"].values():
                placement.update(database=None, bucket=None, cluster=None)
        out = project_copy / "out.json"
        out.write_text(json.dumps({"multidc": planned}))
        book = build(load_stack("kz-prod", project_copy.path), deployed(parse(planned, "test")),
                     RunbookKind.unplanned, "almaty")
        # Every step confirmed up front: a backend that can act still acts (done), so the DNS steps are
        # carried out for real; the rest (and the name of a system restored from backups) are confirmed.
        by_hand = [s.id for s in book.steps()]
        before = {site: transfer(server) for site, server in servers.items()}

        done = run_multidc(project_copy, "failover", "--stack", "kz-prod", "--to", "almaty", "--outputs", str(out),
                           "--yes", "--json", *(f"--confirm={step}" for step in by_hand))
        after = {site: transfer(server) for site, server in servers.items()}

    report = json.loads(done.stdout)
    switched = {s["system"]: s for s in report["steps"] if s["action"] == "dns.switch"}
    assert report["result"] == "success"
    assert switched.pop("analytics")["status"] == "confirmed", "restored from backups: no address declared there"
    assert set(switched) == {"core-db", "cards-db", "sessions", "web", "ml"}, "the moved systems that have names"
    assert all(s["status"] == "done" for s in switched.values()), switched
    assert all("verified by a query" in s["detail"] for name, s in switched.items() if name != "ml"), switched
    assert switched["ml"]["detail"].count("already") == 3, "the ML platform's names already point where it trains"
    assert after["astana"] == before["astana"], "the lost site's copy is not written"

    # What the program declared: the active-passive names now answer the standby's address in almaty; the
    # active-active `web` answers what it answered minus astana's address; all with the declared TTL.
    expected = dict(before["almaty"])
    for system in switched:
        for entry in planned["systems"][system]["service_names"]:
            now = set(entry["records"]) - {entry["site_addresses"]["astana"]} if system == "web" \
                else {entry["site_addresses"]["almaty"]}
            assert now, f"{entry['name']}: the failover must leave it an address"
            expected[(entry["name"][:-len(ZONE) - 1], "A")] = (
                int(entry["ttl"]), sorted(dns.rdata.from_text("IN", "A", a).to_digestable() for a in now))
    soa = ("@", "SOA")
    assert {k: v for k, v in after["almaty"].items() if k != soa} == {k: v for k, v in expected.items() if k != soa}
    assert after["almaty"][soa] != before["almaty"][soa], "the serial moved on with the updates"
