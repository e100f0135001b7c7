"""The stack outputs document: where everything a stack declares ended up, for the operations.

The Pulumi program exports it under one key (`multidc.contract.OUTPUTS_KEY`); after
`pulumi up`, `pulumi stack output multidc --json --show-secrets` prints it, and
`multidc status`, `failover`, `failback` and `restore` read it (multidc.ops.outputs
validates it against the schema in docs/outputs.schema.json). Credentials stay Pulumi
secrets inside it. `multidc local up` writes the same document for local servers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import pulumi

from multidc import spec
from multidc.contract import ARCHIVE_RUNS_ON_HOST, OUTPUTS_SCHEMA, STANDBY
from multidc.components.common import placement_props

if TYPE_CHECKING:
    from multidc.components.platform import Platform


def dns_record(platform: spec.Platform, system: str, site: str) -> Optional[str]:
    """The service name of a system in a site's zone (`<system>.<zone>`), None without a zone."""
    zone = platform.site(site).cloud.dns_zone
    return f"{system}.{zone}" if zone else None


def _placement(declared: "Platform", system: spec.System, site: str) -> dict[str, Any]:
    platform = declared.spec
    props = placement_props(platform, system, site)
    placement: dict[str, Any] = {
        "role": props["role"],
        "scale": props["scale"],
        "replication_mechanism": props.get("replication_mechanism"),
        "replicates_from": site_of(props.get("replicates_from"), system.name),
        "volume_gb": system.size.volume_gb if system.size else None,
        "dns_record": dns_record(platform, system.name, site),
        "database": None, "bucket": None, "cluster": None,
    }
    key = (system.name, site)
    database = declared.databases.get(key)
    if database is not None:
        placement["database"] = {
            "engine": database.engine, "host": database.endpoint, "port": database.port,
            "database": database.database, "user": database.user, "password": database.password,
            "parameters": database.server_parameters or None,
        }
        if props["role"] == STANDBY:
            placement["replication_link"] = database.replication_link
    bucket = declared.buckets.get(key)
    if bucket is not None:
        placement["bucket"] = {"endpoint": bucket.endpoint, "bucket": bucket.bucket,
                               "region": declared.spec.site(site).cloud.region}
    cluster = declared.clusters.get(key)
    if cluster is not None:
        placement["cluster"] = {"name": cluster.placement, "api_address": cluster.api_address,
                                "kubeconfig": cluster.kubeconfig}
    balancer = declared.load_balancers.get(key)
    if balancer is not None:
        placement["load_balancer"] = {"vip_address": balancer.vip_address, "floating_ip": balancer.floating_ip,
                                      "address": balancer.address, "urn": balancer.urn}
    component = (declared.databases.get(key) or declared.buckets.get(key) or declared.clusters.get(key)
                 or declared.vm_groups.get(key) or declared.ml_platforms.get(key))
    placement["urn"] = component.urn if component is not None else None
    return placement


def site_of(placement_name: Optional[str], system: str) -> Optional[str]:
    """`core-db-astana` of system `core-db` -> `astana`."""
    if placement_name is None:
        return None
    return placement_name[len(system) + 1:]


def _system(declared: "Platform", system: spec.System) -> dict[str, Any]:
    platform = declared.spec
    backup = declared.backups.get(system.name)
    document: dict[str, Any] = {
        "kind": system.kind.value,
        "tier": system.tier.value,
        "topology": system.topology.value,
        "replication": system.replication.value if system.replication else None,
        "rpo_s": int(system.rpo.total_seconds()),
        "rto_s": int(system.rto.total_seconds()),
        "primary_site": system.primary_site,
        "sites": list(system.sites),
        "placements": {site: _placement(declared, system, site) for site in system.sites},
        "backup": None,
        "copies": [{"source_site": copy.source_site, "destination_site": copy.destination_site,
                    "schedule": copy.schedule, "urn": copy.urn}
                   for copy in declared.copies if copy.system == system.name],
    }
    document["service_names"] = service_names(declared, system)
    if backup is not None and system.backup is not None:
        document["backup"] = {
            "site": system.backup.offsite_site, "protects_site": system.primary_site,
            "schedule": system.backup.schedule, "immutable_days": system.backup.immutable_days,
            "object_lock_mode": backup.object_lock_mode, "mechanism": backup.mechanism,
            "vault": {"endpoint": backup.endpoint, "bucket": backup.vault,
                      "region": platform.site(system.backup.offsite_site).cloud.region},
            "urn": backup.urn,
            "archive": None if backup.archive is None else {
                "tool": backup.archive["archive_tool"], "prefix": backup.archive["archive_prefix"],
                "server_name": system.name, "archive_timeout_s": backup.archive["archive_timeout_s"],
                "runs_on": ARCHIVE_RUNS_ON_HOST if backup.host is not None else backup.archive["archive_runs_on"],
                "host": None if backup.host is None else backup.host.address,
                "writer": None if backup.access is None else {"access_key": backup.access.access_key,
                                                             "secret_key": backup.access.secret_key}},
        }
    return document


def service_names(declared: "Platform", system: spec.System) -> list[dict[str, Any]]:
    """The record sets a system's clients resolve, as declared in every zoned site (none without a zone).

    ``records`` is what a name resolves to now; ``site_addresses`` what each site would put
    there, so that a DNS failover step writes exactly the declared record with the lost site's
    address removed (active-active) or the standby's in its place (active-passive).
    """
    for names in declared.service_names.values():
        return [{**{key: entry[key] for key in ("endpoint", "name", "type", "ttl", "visibility")},
                 "zone": names.zone, "sites": sorted(declared.service_names),
                 "records": names.record_sets[label].records, "site_addresses": dict(names.site_addresses[label])}
                for entry in names.described if entry["system"] == system.name
                for label in [str(entry["name"])[:-len(names.zone) - 1]]]
    return []


def stack_outputs(declared: "Platform") -> dict[str, Any]:
    """The document `pulumi up` exports (values may be Outputs; credentials are secrets)."""
    platform = declared.spec
    witness = platform.witness
    return {
        "schema": OUTPUTS_SCHEMA,
        "stack": pulumi.get_stack(),
        "platform": platform.name,
        "sites": {
            site.name: {
                "role": site.role.value, "region": site.cloud.region, "s3_endpoint": site.s3_endpoint,
                "dns_zone": site.cloud.dns_zone,
                "s3": {"access_key": declared.site_components[site.name].s3_access_key,
                       "secret_key": declared.site_components[site.name].s3_secret_key},
            }
            for site in platform.sites
        },
        "witness": None if witness is None else {"name": witness.name, "endpoint": witness.endpoint},
        "interconnects": [list(pair) for pair in platform.replicating_pairs()],
        "systems": {system.name: _system(declared, system) for system in platform.systems},
    }
