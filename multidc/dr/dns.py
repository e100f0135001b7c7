"""The DNS failover step: change exactly the record set the program declared, in every zone copy.

The stack outputs carry each system's service names (`systems.<system>.service_names`: each
name, its zone, type, TTL, the sites whose DNS holds a copy of the zone, and the system's
address in each site; an ML platform has one per endpoint). `dns.switch` reads that
declaration (never the spec, never what a server happens to hold) and writes, in each
surviving copy of the zone:

* active-passive: the name's record set replaced by the address(es) of the site that now
  serves, with the declared TTL;
* active-active: the lost site's address removed and the others kept (a failback adds the
  returning site's address again), with the declared TTL.

The lost site's copy is not written (it does not answer); the failback's DNS step writes
every copy, so it holds the declared records again. A copy lives on one of two kinds of
server: a DNS server that takes RFC 2136 updates signed with TSIG (an on-prem server of a
hybrid stack, or Knot in the tests; `Rfc2136Zone`, dnspython) or the site's Designate
(`multidc.dr.designate.DesignateZone`, openstacksdk). Both compute the new record set with
the same `RecordChange`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Protocol

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataset
import dns.rdatatype
import dns.tsigkeyring
import dns.update

from .backends import Backend, BackendError
from .runbook import Step
from .states import NeedsOperator


@dataclass(frozen=True)
class RecordChange:
    """What one DNS step writes: the record set `name` of `type` in `zone`, with `ttl`.

    `replace`: the record set becomes exactly `write`. Otherwise (active-active) `drop` is
    removed from what the server holds and `write` added; every other address stays.
    """

    name: str
    zone: str
    type: str
    ttl: int
    write: tuple[str, ...]
    drop: tuple[str, ...] = ()
    replace: bool = True

    def desired(self, current: frozenset[str]) -> frozenset[str]:
        """The record set after the change, given what the server holds now."""
        if self.replace:
            return frozenset(self.write)
        return (current - set(self.drop)) | set(self.write)


@dataclass(frozen=True)
class DeclaredName:
    """One of a system's service names as the deployed stack's outputs declare it."""

    system: str
    name: str
    zone: str
    type: str
    ttl: int
    active_active: bool
    copies: tuple[str, ...]
    """The sites whose DNS holds a copy of the zone with this name."""
    site_addresses: Mapping[str, str]
    """The system's address in each of its sites."""

    def change(self, serve: tuple[str, ...]) -> RecordChange:
        """The change that makes the name point at the sites `serve` (the others' addresses removed)."""
        write = tuple(sorted({self.site_addresses[site] for site in serve}))
        drop = tuple(sorted({a for site, a in self.site_addresses.items() if site not in serve} - set(write)))
        return RecordChange(self.name, self.zone, self.type, self.ttl, write, drop, replace=not self.active_active)


class ZoneCopy(Protocol):
    """One site's copy of the zone: applies a change and verifies it; returns what it did."""

    def apply(self, change: RecordChange) -> str: ...


def no_address_left(change: RecordChange, current: frozenset[str], where: str) -> BackendError:
    return BackendError(f"{change.name} on {where}: removing {', '.join(change.drop)} from {sorted(current)} would "
                        "leave the name without an address; no site would serve it. Nothing was changed")


@dataclass(frozen=True)
class DnsServer:
    """An authoritative server of `zone` that accepts updates signed with the TSIG key `key_name`."""

    address: str
    port: int
    zone: str
    key_name: str
    key_secret: str  # base64, as `tsig-keygen` / `keymgr -t` print it
    algorithm: str = "hmac-sha256"


@dataclass(frozen=True)
class Rfc2136Zone:
    """A zone copy on a DNS server that takes RFC 2136 dynamic updates signed with TSIG (dnspython).

    Atomic: one update message whose prerequisite is the record set read just before (a
    concurrent change makes the server refuse it, and nothing is written). Idempotent: a
    record set that is already as declared is not written again. Timeout: `timeout` seconds
    for the read, the update and the verifying query. Verified: the server is asked again
    and must answer exactly the new addresses with the declared TTL.
    """

    server: DnsServer
    timeout: float = 5.0

    @property
    def where(self) -> str:
        return f"{self.server.address}:{self.server.port}"

    def apply(self, change: RecordChange) -> str:
        record, zone = dns.name.from_text(change.name), dns.name.from_text(self.server.zone)
        if not record.is_subdomain(zone):
            raise BackendError(f"the record {record} is not in the zone {zone} that {self.where} serves; fix "
                               "service_name.zone or the site's dns_server in the stack outputs")
        current, ttl = self.ask(record, change.type)
        desired = change.desired(current)
        if not desired:
            raise no_address_left(change, current, self.where)
        if (current, ttl) == (desired, change.ttl):
            return f"{record} already {self._shown(desired, change.ttl)} on {self.where}"
        keyring = dns.tsigkeyring.from_text({self.server.key_name: (self.server.algorithm, self.server.key_secret)})
        update = dns.update.UpdateMessage(zone, keyring=keyring, keyname=self.server.key_name)
        relative = record.relativize(zone)
        if current:  # compare and swap: refused if the record set changed since it was read
            update.present(relative, dns.rdataset.from_text("IN", change.type, 0, *sorted(current)))
        else:
            update.absent(relative, change.type)
        update.replace(relative, change.ttl, change.type, *sorted(desired))
        try:
            reply = dns.query.tcp(update, self.server.address, port=self.server.port, timeout=self.timeout)
        except (OSError, dns.exception.DNSException) as error:
            raise BackendError(f"the update of {record} on {self.where} failed: {error}; check that the server "
                               "answers and knows the TSIG key") from error
        if reply.rcode() in (dns.rcode.NXRRSET, dns.rcode.YXRRSET):
            raise BackendError(f"{record} changed on {self.where} while it was being updated; nothing was written: "
                               "run the step again")
        if reply.rcode() != dns.rcode.NOERROR:
            raise BackendError(f"{self.where} refused the update of {record}: {dns.rcode.to_text(reply.rcode())}; "
                               "check the zone's update ACL and the TSIG key")
        answered = self.ask(record, change.type)
        if answered != (desired, change.ttl):
            raise BackendError(f"after the update {self.where} answers {record} with {sorted(answered[0])} (TTL "
                               f"{answered[1]}s), not {self._shown(desired, change.ttl)}")
        return (f"{record} {self._shown(desired, change.ttl)} on {self.where} (was {sorted(current)}); "
                "verified by a query")

    @staticmethod
    def _shown(addresses: frozenset[str], ttl: int) -> str:
        return f"-> {', '.join(sorted(addresses))} (TTL {ttl}s)"

    def ask(self, record: dns.name.Name, rdtype: str) -> tuple[frozenset[str], int]:
        """The addresses and TTL the server answers for `record` (empty, 0 when it has none)."""
        query = dns.message.make_query(record, rdtype)
        try:
            reply = dns.query.tcp(query, self.server.address, port=self.server.port, timeout=self.timeout)
        except (OSError, dns.exception.DNSException) as error:
            raise BackendError(f"the query of {record} on {self.where} failed: {error}; check that the server "
                               "answers") from error
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rdtype) and rrset.name == record:
                return frozenset(r.to_text() for r in rrset), rrset.ttl
        return frozenset(), 0


@dataclass
class ServiceNameBackend:
    """`dns.switch`: point a system's declared service names at the sites that serve it now.

    `names` holds each system's names as the stack outputs declare them (an ML platform has
    one per endpoint); `copies` the zone copy of each site (RFC 2136 server or Designate). The
    step says which sites serve after it (`serve`) and which site is lost (`lost`, not
    written). Systems without a declared name, or with a zone copy nothing here can write, go
    to `fallback` (needs an operator) before anything is written. Atomic per name and zone
    copy, not across them (a failure leaves what was written so far changed; the step is
    idempotent, so it is run again). Timeout: each copy's own, per name.
    """

    names: Mapping[str, tuple[DeclaredName, ...]]
    copies: Mapping[str, ZoneCopy]
    fallback: Backend

    def run(self, step: Step) -> str:
        declared = self.names.get(step.system or "", ())
        if not declared:
            return self.fallback.run(step)
        asked = sorted(filter(None, str(step.param("records") or "").split(",")))
        if asked and asked != sorted(n.name for n in declared):
            raise BackendError(f"{step.system}: the runbook names {', '.join(asked)}, the deployed stack declares "
                               f"{', '.join(sorted(n.name for n in declared))}; give the outputs of the stack the "
                               "spec describes (or run pulumi up first)")
        serve = tuple(s for s in str(step.param("serve") or step.site).split(",") if s)
        unknown = sorted({site for n in declared for site in serve if site not in n.site_addresses})
        if unknown:  # e.g. a system restored from its backups there: its instance is created by pulumi up
            raise NeedsOperator(f"not done (the stack outputs declare no address of {step.system} in "
                                f"{', '.join(unknown)}: service_names[].site_addresses): once it serves there, point "
                                f"{', '.join(n.name for n in declared)} at its address by hand (TTL "
                                f"{declared[0].ttl}s), or run pulumi up with the flipped stack, which declares it")
        lost: Optional[str] = step.param("lost")
        targets = sorted({site for n in declared for site in n.copies if site != lost})
        if not targets or any(site not in self.copies for site in targets):
            return self.fallback.run(step)
        done = [f"{site}: {self.copies[site].apply(n.change(serve))}"
                for n in declared for site in n.copies if site != lost]
        if any(lost in n.copies for n in declared):
            done.append(f"{lost}: its copy of the zone is not written (the site is lost); the failback writes it")
        return "; ".join(done)
