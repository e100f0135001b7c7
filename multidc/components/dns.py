"""Service names: a site's Designate zone and one record set per name that clients reach.

Every site whose cloud names a ``dns_zone`` gets that zone (``openstack.dns.Zone``, owned
by the stack) in its own Designate, holding the same record sets as every other site's
copy of the zone: the parent zone delegates to the nameservers of both sites, so either
answers when the other has burnt. A record set is ``<system>.<zone>`` (an ML platform's
endpoints: ``<endpoint>.<system>.<zone>``, multidc.spec.service_names), type A:

* active-passive: the primary site's address (failover re-points it at the standby);
* active-active: every site's address (failover removes the lost site's);
* single-site and backup-only: the one site's address.

Public names (VM groups behind a load balancer, ML endpoints declared public) resolve to
floating IPs; private names (databases, private ML endpoints) to addresses on the site
networks, reached through the VPN. The TTL is derived
from the system's RTO (`ttl_for_rto`): resolvers must forget the lost site's address well
within the RTO; policy MDC-DNS-001 flags a record whose TTL is longer than the RTO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_openstack as openstack

from multidc.components.site import Site
from multidc.contract import SERVICE_NAMES
from multidc.spec.service_names import Endpoint, record_name

ZONE_TTL_S = 3600
RECORD_TYPE = "A"


@dataclass(frozen=True)
class ServiceName:
    """One name: where it points, how long resolvers may keep it, who may resolve it."""

    endpoint: Endpoint
    """The system (and endpoint) it names, and its visibility."""
    rto_s: int
    ttl: int
    """How long resolvers may keep it (multidc.spec.service_names.ttl_of: a fifth of the RTO by default)."""
    addresses: Sequence[pulumi.Input[str]]
    """What the name resolves to now (the serving sites' addresses)."""
    site_addresses: Mapping[str, pulumi.Input[str]]
    """The system's address in each of its sites: what a failover points the name at."""


@dataclass(frozen=True)
class ServiceNamesArgs:
    """A site's zone and the names it holds."""

    platform: str
    site: Site
    zone: str
    names: tuple[ServiceName, ...]


class ServiceNames(pulumi.ComponentResource):
    """A site's Designate zone and a record set per client-facing system."""

    zone: str
    described: list[dict[str, object]]
    """Each record: system, endpoint (None for the system's own name), name, type, ttl, rto_seconds, visibility."""
    site_addresses: dict[str, Mapping[str, pulumi.Input[str]]]
    """Each name's address in each site, by label (``core-db``, ``jupyterhub.ml``)."""
    zone_id: pulumi.Output[str]
    record_sets: dict[str, openstack.dns.RecordSet]
    """The record set of each name, by label."""

    def __init__(self, name: str, args: ServiceNamesArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        described = [{"system": n.endpoint.system, "endpoint": n.endpoint.endpoint,
                      "name": record_name(n.endpoint.label, args.zone), "type": RECORD_TYPE,
                      "ttl": n.ttl, "rto_seconds": n.rto_s, "visibility": n.endpoint.visibility}
                     for n in args.names]
        contract = {"site": args.site.name, "zone": args.zone, "records": described}
        super().__init__(SERVICE_NAMES, name, contract, opts)
        self.zone, self.described = args.zone, described
        self.site_addresses = {n.endpoint.label: n.site_addresses for n in args.names}
        on_site = pulumi.ResourceOptions(parent=self, provider=args.site.provider)
        zone = openstack.dns.Zone(
            f"{name}-zone", name=args.zone, email=f"hostmaster@{args.zone.rstrip('.')}", ttl=ZONE_TTL_S,
            type="PRIMARY", description=f"multidc: service names of {args.platform} ({args.site.name})",
            opts=on_site)
        self.zone_id = zone.id
        self.record_sets = {
            service.endpoint.label: openstack.dns.RecordSet(
                f"{name}-{service.endpoint.label.replace('.', '-')}", zone_id=zone.id, name=entry["name"],
                type=RECORD_TYPE, ttl=entry["ttl"], records=list(service.addresses),
                description=f"multidc: {service.endpoint.label} ({service.endpoint.visibility}), RTO {service.rto_s}s",
                opts=on_site)
            for service, entry in zip(args.names, described)
        }
        self.register_outputs({**contract, "zone_id": self.zone_id})
