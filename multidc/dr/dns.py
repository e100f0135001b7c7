"""DNS failover on an on-prem DNS server: RFC 2136 dynamic updates signed with TSIG (dnspython).

Hybrid stacks keep their service names on their own DNS server (BIND, Knot, PowerDNS);
`dns.switch` replaces the name's A record with the new site's address and the declared TTL
in one update message, then asks the same server and passes only if it answers exactly
that address and TTL. Designate (OpenStack) stacks use multidc.dr.backends.DnsBackend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update

from .backends import Backend, BackendError
from .runbook import Step


@dataclass(frozen=True)
class DnsServer:
    """An authoritative server of `zone` that accepts updates signed with the TSIG key `key_name`."""

    address: str
    port: int
    zone: str
    key_name: str
    key_secret: str  # base64, as `tsig-keygen` / `keymgr -t` print it
    algorithm: str = "hmac-sha256"


@dataclass
class Rfc2136Backend:
    """Point a service name at the site taking over, on the DNS server that serves that site.

    `servers` maps a site to its DNS server; `addresses` maps (system, site) to the address
    the record should answer. Names without a server or an address go to `fallback` (it
    needs an operator). Atomic: one update message (the old A records are deleted and the
    new one added in one transaction). Idempotent: the same update again changes nothing.
    Timeout: `timeout` seconds for the update and for the verifying query.
    """

    servers: Mapping[str, DnsServer]
    addresses: Mapping[tuple[str, str], str]
    fallback: Backend
    timeout: float = 5.0

    def run(self, step: Step) -> str:
        server, address = self.servers.get(step.site), self.addresses.get((step.system, step.site))
        if server is None or address is None:
            return self.fallback.run(step)
        record, ttl = dns.name.from_text(step.param("record")), int(step.param("ttl", 60))
        zone = dns.name.from_text(server.zone)
        if not record.is_subdomain(zone):
            raise BackendError(f"{step.system}@{step.site}: the record {record} is not in the zone {zone} that "
                               f"{server.address}:{server.port} serves; fix placements.{step.site}.dns_record or the "
                               "site's dns_server in the stack outputs")
        keyring = dns.tsigkeyring.from_text({server.key_name: (server.algorithm, server.key_secret)})
        update = dns.update.UpdateMessage(zone, keyring=keyring, keyname=server.key_name)
        update.replace(record.relativize(zone), ttl, dns.rdatatype.A, address)
        where = f"{server.address}:{server.port}"
        try:
            reply = dns.query.tcp(update, server.address, port=server.port, timeout=self.timeout)
        except (OSError, dns.exception.DNSException) as error:
            raise BackendError(f"{step.system}@{step.site}: the update of {record} on {where} failed: {error}; "
                               "check that the server answers and knows the TSIG key") from error
        if reply.rcode() != dns.rcode.NOERROR:
            raise BackendError(f"{step.system}@{step.site}: {where} refused the update of {record}: "
                               f"{dns.rcode.to_text(reply.rcode())}; check the zone's update ACL and the TSIG key")
        answered = self._ask(server, record)
        if answered != ({address}, ttl):
            raise BackendError(f"{step.system}@{step.site}: after the update {where} answers {record} with "
                               f"{answered}, not {address} (TTL {ttl}s)")
        return f"{record} -> {address} (TTL {ttl}s) on {where}; verified by a query"

    def _ask(self, server: DnsServer, record: dns.name.Name) -> tuple[set[str], int]:
        query = dns.message.make_query(record, dns.rdatatype.A)
        try:
            reply = dns.query.tcp(query, server.address, port=server.port, timeout=self.timeout)
        except (OSError, dns.exception.DNSException) as error:
            raise BackendError(f"the verifying query of {record} on {server.address}:{server.port} failed: "
                               f"{error}") from error
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.A:
                return {r.address for r in rrset}, rrset.ttl
        return set(), 0
