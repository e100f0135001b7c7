"""A site's copy of the service names' zone in its Designate (OpenStack DNS), through openstacksdk.

The production backend for zones the stack owns (`openstack.dns.Zone`, multidc.components.dns):
the same `RecordChange` as an RFC 2136 server gets (multidc.dr.dns), written as one recordset
update. Proven here only against a stand-in of openstacksdk's DNS proxy (tests/dr/test_dns_backend.py);
a real Designate is not run on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .backends import BackendError
from .dns import RecordChange, no_address_left


@dataclass(frozen=True)
class DesignateZone:
    """A zone copy in one site's Designate (openstacksdk's `conn.dns`).

    Atomic: one recordset create or update (Designate has no compare-and-swap: a concurrent
    edit between the read and the write is overwritten). Idempotent: a recordset already as
    declared is not written. Timeout: the connection's `api_timeout`. Verified: the recordset
    is read back and must hold exactly the new addresses and TTL (Designate then pushes it
    to its nameservers, status PENDING -> ACTIVE, within seconds).
    """

    site: str
    connect: Callable[[], Any]  # -> openstack.connection.Connection for the site's cloud

    def apply(self, change: RecordChange) -> str:
        try:
            return self._apply(change)
        except BackendError:
            raise
        except Exception as error:  # openstacksdk's SDKException and keystoneauth's errors alike
            raise BackendError(f"Designate of {self.site}: {change.name}: {error}; check the site's clouds.yaml "
                               "entry and that its Designate answers") from error

    def _apply(self, change: RecordChange) -> str:
        conn = self.connect()
        zone = conn.dns.find_zone(change.zone, ignore_missing=False)
        found = list(conn.dns.recordsets(zone, name=change.name, type=change.type))
        current = frozenset(found[0].records) if found else frozenset()
        desired = change.desired(current)
        where = f"Designate of {self.site}"
        if not desired:
            raise no_address_left(change, current, where)
        shown = f"-> {', '.join(sorted(desired))} (TTL {change.ttl}s)"
        if found and (current, found[0].ttl) == (desired, change.ttl):
            return f"{change.name} already {shown} in {where}"
        if found:
            conn.dns.update_recordset(found[0], records=sorted(desired), ttl=change.ttl)
        else:
            conn.dns.create_recordset(zone, name=change.name, type=change.type, records=sorted(desired),
                                      ttl=change.ttl)
        after = list(conn.dns.recordsets(zone, name=change.name, type=change.type))
        if not after or (frozenset(after[0].records), after[0].ttl) != (desired, change.ttl):
            held = (sorted(after[0].records), after[0].ttl) if after else "nothing"
            raise BackendError(f"{where} holds {held} for {change.name} after the update, not {shown}")
        return f"{change.name} {shown} in {where} (was {sorted(current)}); read back"
