"""How clients reach the platform and how the team hears of trouble: a load balancer per VM group
placement, service names per site, monitoring per cluster.

Wiring, not a component: it declares `LoadBalancer`, `ServiceNames` and `Monitoring`
components under the Platform from what the Platform already declared (VM addresses,
database endpoints, clusters).

Which systems get a name, and where the name points:

* a VM group: public, at its load balancers' floating IPs;
* a managed database: private, at its endpoint on the site network;
* active-active systems point at every site, the others at their primary site only.

Buckets are reached through the provider's S3 endpoint and clusters through their API
address: neither gets a record of ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import pulumi

from multidc import spec
from multidc.components.dns import ServiceName, ServiceNames, ServiceNamesArgs
from multidc.components.loadbalancer import LoadBalancer, LoadBalancerArgs
from multidc.components.monitoring import Monitoring, MonitoringArgs
from multidc.contract import PRIVATE, PUBLIC, placement_name

if TYPE_CHECKING:
    from multidc.components.platform import Placement, Platform


def visibility(system: spec.System) -> Optional[str]:
    """PUBLIC for what faces the internet, PRIVATE for internal services, None for no name."""
    if system.kind is spec.Kind.vm_group:
        return PUBLIC
    if system.kind in spec.DATABASE_KINDS:
        return PRIVATE
    return None


def serving_sites(system: spec.System) -> list[str]:
    """Where a system's name points before any failover."""
    return list(system.sites) if system.topology is spec.Topology.active_active else [system.primary_site]


def declare_monitoring(platform: "Platform", opts: pulumi.ResourceOptions) -> dict["Placement", Monitoring]:
    """The monitoring release in every cluster placement; the first cluster of each site also watches
    the site's databases and the witness (one page per problem, not one per cluster)."""
    watchers: dict[str, "Placement"] = {}
    for system, site in platform.clusters:
        watchers.setdefault(site, (system, site))
    return {
        (system, site): Monitoring(f"{cluster.placement}-monitoring", MonitoringArgs(
            platform=platform.spec, cluster_system=system, cluster=cluster,
            watches_site=watchers[site] == (system, site),
            databases=tuple((db_system, db) for (db_system, db_site), db in platform.databases.items()
                            if db_site == site)), opts=opts)
        for (system, site), cluster in platform.clusters.items()
    }


def declare_entrypoints(platform: "Platform", opts: pulumi.ResourceOptions) \
        -> tuple[dict["Placement", LoadBalancer], dict[str, ServiceNames]]:
    """The load balancers of every VM group placement, then each zoned site's service names."""
    declared = platform.spec
    balancers = {
        (system, site): LoadBalancer(f"{placement_name(system, site)}-lb", LoadBalancerArgs(
            platform=declared.name, system=system, site=platform.site_components[site],
            member_addresses=tuple(group.addresses), visibility=PUBLIC,
            external_network=declared.site(site).cloud.external_network), opts=opts)
        for (system, site), group in platform.vm_groups.items()
    }

    def address(system: spec.System, site: str) -> pulumi.Input[str]:
        key = (system.name, site)
        return balancers[key].address if key in balancers else platform.databases[key].endpoint

    names = tuple(
        ServiceName(system=system.name, rto_s=int(system.rto.total_seconds()), visibility=shown,
                    addresses=tuple(address(system, site) for site in serving_sites(system)),
                    site_addresses={site: address(system, site) for site in system.sites})
        for system in declared.systems if (shown := visibility(system)) is not None)
    service_names = {
        site.name: ServiceNames(f"{site.name}-dns", ServiceNamesArgs(
            platform=declared.name, site=platform.site_components[site.name], zone=site.cloud.dns_zone,
            names=names), opts=opts)
        for site in declared.sites if site.cloud.dns_zone and names
    }
    return balancers, service_names
