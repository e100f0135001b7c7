"""How clients reach the platform and how the team hears of trouble: a load balancer per VM group
placement, load-balanced ML endpoints, service names per site, monitoring per cluster.

Wiring, not a component: it declares `LoadBalancer`, `MlEndpoints`, `ServiceNames` and
`Monitoring` components under the Platform from what the Platform already declared (VM
addresses, database endpoints, clusters, ML platforms).

Which names exist (multidc.spec.service_names.endpoints), and where they point:

* a VM group: public, at its load balancers' floating IPs;
* a managed database: private, at its endpoint on the site network;
* an ML platform: JupyterHub, MLflow and each served model, private or public as declared,
  at the endpoint's load balancer (multidc.components.ml_endpoints);
* active-active systems point at every site, the others at their primary site only.

Buckets are reached through the provider's S3 endpoint and clusters through their API
address: neither gets a record of ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from multidc import spec
from multidc.components.dns import ServiceName, ServiceNames, ServiceNamesArgs
from multidc.components.loadbalancer import LoadBalancer, LoadBalancerArgs
from multidc.components.monitoring import Monitoring, MonitoringArgs
from multidc.contract import PUBLIC, placement_name
from multidc.components.ml_endpoints import MlEndpoints, MlEndpointsArgs
from multidc.spec.service_names import Endpoint, endpoints, serving_sites, ttl_of

if TYPE_CHECKING:
    from multidc.components.platform import Placement, Platform


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


def cluster_of(system: spec.System) -> str:
    """The kubernetes system an ML platform runs on."""
    assert system.ml is not None, "an ml-platform system always has its 'ml' section (the spec checks it)"
    return system.ml.cluster


def declare_entrypoints(platform: "Platform", opts: pulumi.ResourceOptions) \
        -> tuple[dict["Placement", LoadBalancer], dict["Placement", MlEndpoints], dict[str, ServiceNames]]:
    """The load balancers of every VM group placement and ML platform placement, then each zoned site's
    service names."""
    declared = platform.spec
    balancers = {
        (system, site): LoadBalancer(f"{placement_name(system, site)}-lb", LoadBalancerArgs(
            platform=declared.name, system=system, site=platform.site_components[site],
            member_addresses=tuple(group.addresses), visibility=PUBLIC,
            external_network=declared.site(site).cloud.external_network), opts=opts)
        for (system, site), group in platform.vm_groups.items()
    }

    private = tuple(str(site.cidr) for site in declared.sites)
    ml_endpoints = {
        (system, site): MlEndpoints(f"{placement_name(system, site)}-endpoints", MlEndpointsArgs(
            platform=declared.name, system=system, site=platform.site_components[site],
            provider=platform.clusters[(cluster_of(declared.system(system)), site)].provider,
            namespace=ml.namespace, endpoints=tuple(endpoints(declared.system(system))), private_ranges=private,
            external_network=declared.site(site).cloud.external_network), opts=opts)
        for (system, site), ml in platform.ml_platforms.items() if endpoints(declared.system(system))
    }

    def address(endpoint: Endpoint, site: str) -> pulumi.Input[str]:
        key = (endpoint.system, site)
        if endpoint.endpoint is not None:
            return ml_endpoints[key].addresses[endpoint.endpoint]
        return balancers[key].address if key in balancers else platform.databases[key].endpoint

    names = tuple(
        ServiceName(endpoint=endpoint, rto_s=int(system.rto.total_seconds()), ttl=ttl_of(declared, system),
                    addresses=tuple(address(endpoint, site) for site in serving_sites(declared, system)),
                    site_addresses={site: address(endpoint, site) for site in system.sites})
        for system in declared.systems for endpoint in endpoints(system))
    service_names = {
        site.name: ServiceNames(f"{site.name}-dns", ServiceNamesArgs(
            platform=declared.name, site=platform.site_components[site.name], zone=site.cloud.dns_zone,
            names=names), opts=opts)
        for site in declared.sites if site.cloud.dns_zone and names
    }
    return balancers, ml_endpoints, service_names
