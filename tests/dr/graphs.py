"""Small resource graphs built by hand after docs/components.md, for DR tests.

tests/dr/test_graphs.py proves that `graph_for(spec)` reads, through the DR inventory, exactly as
the real program's offline plan of the same spec does; the keyword arguments then change one
thing at a time from that proven baseline.

`graph_for(platform)` declares what the contract says the components declare: a Platform,
its Sites, an Interconnect per replicating pair, one placement component per system and
site (with one custom resource under it, so it is not hollow), BackupTargets and
BucketCopies. Keyword arguments leave parts out or change them, so a test can show that
the verdict follows the graph, not the spec.
"""

from __future__ import annotations

from typing import Any, Iterable

from multidc.components.backup import backup_mechanism
from multidc.components.common import REPLICATION_MECHANISMS
from multidc.plan.graph import Node, ResourceGraph
from multidc.spec import DATABASE_KINDS, Kind, Platform, Topology, parse_platform
from multidc.contract import (BACKUP_TARGET, BUCKET_COPY, DATABASE, INTERCONNECT, KUBERNETES, ML_PLATFORM,
                              OBJECT_BUCKET, PLATFORM, SITE, VM_GROUP)

COMPONENT = {
    Kind.vm_group: VM_GROUP,
    Kind.bucket: OBJECT_BUCKET,
    Kind.kubernetes: KUBERNETES,
    Kind.ml_platform: ML_PLATFORM,
    **{kind: DATABASE for kind in DATABASE_KINDS},
}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::multidc::{type_}::{name}"


def site(name: str, lat: float, lon: float, zone: str = "low", role: str = "secondary",
         zones: Iterable[str] = ("az1",)) -> dict[str, Any]:
    return {
        "name": name, "role": role,
        "cloud": {"auth_url": f"https://{name}.example:5000/v3", "region": name, "project": "p"},
        "location": {"city": name.title(), "country": "KZ", "latitude": lat, "longitude": lon, "seismic_zone": zone},
        "cidr": f"10.{abs(hash(name)) % 200}.0.0/16", "availability_zones": list(zones),
        "s3_endpoint": f"https://s3.{name}.example",
    }


def platform(systems: list[dict], sites: list[dict] | None = None, witness: dict | None = None) -> Platform:
    """A platform: by default astana (primary) and almaty 970 km away, plus an ops cluster in almaty."""
    sites = sites or [site("astana", 51.1694, 71.4491, role="primary"), site("almaty", 43.2220, 76.8512, "high")]
    ops = {"name": "ops", "kind": "kubernetes", "sites": [s["name"] for s in sites], "topology": "active-active"}
    data = {"name": "test", "sites": sites, "systems": [*systems, ops]}
    if witness:
        data["witness"] = witness
    return parse_platform(data)


KARAGANDA = {"name": "karaganda", "endpoint": "https://witness.example",
             "location": {"city": "Karaganda", "country": "KZ", "latitude": 49.8047, "longitude": 73.1094}}


def graph_for(
    spec: Platform,
    *,
    drop: Iterable[tuple[str, str]] = (),
    hollow: Iterable[tuple[str, str]] = (),
    no_backups: Iterable[str] = (),
    zones: dict[tuple[str, str], list[str]] | None = None,
    anti_affinity: Iterable[tuple[str, str]] = (),
) -> ResourceGraph:
    """The graph the components would declare for `spec`, less `drop`ped (system, site) placements.

    `hollow` placements keep their component but declare nothing below it; `zones` puts a
    placement's servers in those availability zones; `anti_affinity` schedules them apart.
    """
    drop, hollow, no_backups = set(drop), set(hollow), set(no_backups)
    zones, anti_affinity = zones or {}, set(anti_affinity)
    nodes: list[Node] = []
    root = urn(PLATFORM, spec.name)
    nodes.append(Node(root, PLATFORM, spec.name, False,
                      inputs={"platform": spec.name, "sites": [s.name for s in spec.sites]}))
    for s in spec.sites:
        nodes.append(Node(urn(SITE, s.name), SITE, s.name, False, parent=root,
                          site=s.name, inputs={"site": s.name, "availability_zones": list(s.availability_zones)}))
    for a, b in spec.replicating_pairs():
        name = f"{a}-{b}-vpn"
        u = urn(INTERCONNECT, name)
        nodes.append(Node(u, INTERCONNECT, name, False, parent=root, inputs={"sites": [a, b]}))
        nodes.append(Node(urn("openstack:vpnaas/siteConnection:SiteConnection", name), "openstack:vpnaas/"
                          "siteConnection:SiteConnection", name, True, parent=u, site=a))
    for system in spec.systems:
        for place in system.sites:
            if (system.name, place) in drop:
                continue
            role = ("active" if system.topology is Topology.active_active
                    else "primary" if place == system.primary_site else "standby")
            props = {"system": system.name, "site": place, "kind": system.kind.value, "role": role,
                     "scale": "warm-standby" if role == "standby" else "full",
                     "replication": system.replication.value if system.replication else None,
                     "volume_gb": system.size.volume_gb, "node_count": system.size.count}
            if role == "standby":
                props["replicates_from"] = f"{system.name}-{system.primary_site}"
                props["replication_mechanism"] = REPLICATION_MECHANISMS.get(system.kind)
            name = f"{system.name}-{place}"
            u = urn(COMPONENT[system.kind], name)
            nodes.append(Node(u, COMPONENT[system.kind], name, False, parent=root, site=place, inputs=props))
            if (system.name, place) in hollow:
                continue
            group = urn("openstack:compute/serverGroup:ServerGroup", name)
            if (system.name, place) in anti_affinity:
                nodes.append(Node(group, "openstack:compute/serverGroup:ServerGroup", name, True, parent=u,
                                  site=place, inputs={"policies": "anti-affinity"}))
            for index, zone in enumerate(zones.get((system.name, place), ["az1"])):
                nodes.append(Node(urn("openstack:compute/instance:Instance", f"{name}-{index}"),
                                  "openstack:compute/instance:Instance", f"{name}-{index}", True, parent=u, site=place,
                                  dependencies=(group,) if (system.name, place) in anti_affinity else (),
                                  inputs={"availabilityZone": zone}))
        if system.backup is not None and system.name not in no_backups:
            name = f"{system.name}-backup-{system.backup.offsite_site}"
            u = urn(BACKUP_TARGET, name)
            lock = "COMPLIANCE" if system.backup.immutable_days > 0 else None
            nodes.append(Node(u, BACKUP_TARGET, name, False, parent=root,
                              site=system.backup.offsite_site, inputs={
                                  "system": system.name, "site": system.backup.offsite_site,
                                  "protects_site": system.primary_site, "schedule": system.backup.schedule,
                                  "immutable_days": system.backup.immutable_days, "object_lock_mode": lock,
                                  "mechanism": backup_mechanism(system)}))
            nodes.append(Node(urn("pulumi-python:dynamic:Resource", name), "pulumi-python:dynamic:Resource", name,
                              True, parent=u, site=system.backup.offsite_site))
        if system.kind is Kind.bucket and system.topology in (Topology.active_passive, Topology.active_active):
            pairs = [(system.primary_site, s) for s in system.sites[1:]]
            if system.topology is Topology.active_active:
                pairs += [(b, a) for a, b in pairs]
            for source, destination in pairs:
                if (system.name, destination) in drop:
                    continue
                name = f"{system.name}-copy-{source}-to-{destination}"
                nodes.append(Node(urn(BUCKET_COPY, name), BUCKET_COPY,
                                  name, False, parent=root, site=destination, inputs={
                                      "system": system.name, "source_site": source, "destination_site": destination,
                                      "site": destination, "schedule": "*/15 * * * *", "mode": "copy"}))
    return ResourceGraph(stack=spec.name, project="multidc", nodes=tuple(nodes))
