"""What the planned resource graph really declares, per system: placements, backups, copies.

The assessment and the runbook read the graph through this module only, following the
property contract of docs/components.md. A placement or backup target counts only if
its component really declares resources (has custom descendants): a component that
carries the right props but creates nothing protects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from multidc.plan.graph import Node, ResourceGraph
from multidc.contract import (ARCHIVE_HOST, ARCHIVE_RUNS_ON_HOST, ARCHIVE_RUNS_ON_PRIMARY, BACKUP_TARGET, BINLOG_ARCHIVE,
                              BINLOG_RUNS_ON, BUCKET_COPY, INTERCONNECT, PLACEMENTS)

# Input names under which OpenStack resources state their availability zone.
_ZONE_INPUTS = ("availabilityZone", "availability_zone", "availabilityZoneHints")
_SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"
_SERVER_TYPES = ("openstack:compute/instance:Instance", "openstack:database/instance:Instance")


@dataclass(frozen=True)
class Placement:
    """One system in one site, as declared."""

    system: str
    site: str
    role: str  # primary, standby, active
    scale: str  # full, warm-standby
    replication: str | None
    mechanism: str | None  # replication_mechanism of a standby
    replicates_from: str | None
    volume_gb: int | None
    zones: frozenset[str]
    anti_affinity: bool
    instances: int
    urn: str


@dataclass(frozen=True)
class Backup:
    """A system's backups kept in another site."""

    system: str
    site: str
    protects_site: str
    schedule: str
    immutable_days: int
    object_lock_mode: str | None
    mechanism: str
    urn: str
    archive_lag_s: float | None = None
    """Archived continuously (PostgreSQL's WAL, MySQL's binlog): the longest a commit waits before it is in the
    vault. None when nothing archives: a managed database's archive needs its archive host (PostgreSQL) or its
    BinlogArchive (MySQL) in the graph."""
    archive_tool: str | None = None
    """barman-cloud (WAL) or mariadb-binlog (binlog): what archives it."""
    archive_host: str | None = None
    """URN of the ArchiveHost that archives a managed database (a logical subscriber: its apply lag adds to the
    archive's); None for a self-managed primary archiving itself, or no archive."""
    archive_without_host: bool = False
    """A managed database's archive is declared but no ArchiveHost runs it, so nothing archives."""

    @property
    def immutable(self) -> bool:
        return self.object_lock_mode == "COMPLIANCE" and self.immutable_days > 0


@dataclass(frozen=True)
class Copy:
    """A scheduled bucket copy pulled into `destination_site`."""

    system: str
    source_site: str
    destination_site: str
    schedule: str
    urn: str


@dataclass(frozen=True)
class Deployed:
    """Everything the DR code needs to know about what the plan declares."""

    stack: str
    placements: tuple[Placement, ...]
    backups: tuple[Backup, ...]
    copies: tuple[Copy, ...]
    interconnects: tuple[tuple[str, str], ...]
    hollow: tuple[str, ...]  # URNs of placement/backup components that declare nothing

    def placements_of(self, system: str) -> list[Placement]:
        return [p for p in self.placements if p.system == system]

    def placement(self, system: str, site: str) -> Placement | None:
        return next((p for p in self.placements if p.system == system and p.site == site), None)

    def primary_of(self, system: str, order: Sequence[str] = ()) -> Placement | None:
        """The placement that takes writes: the primary; of active-active ones, the first in `order` (the
        system's declared sites), so that the answer never depends on the order resources registered in."""
        rank = {site: i for i, site in enumerate(order)}
        serving = [p for p in self.placements_of(system) if p.role in ("primary", "active")]
        return min(serving, key=lambda p: (p.role != "primary", rank.get(p.site, len(rank)), p.site), default=None)

    def backups_of(self, system: str) -> list[Backup]:
        return [b for b in self.backups if b.system == system]

    def copies_of(self, system: str) -> list[Copy]:
        return [c for c in self.copies if c.system == system]

    def copy_into(self, system: str, site: str) -> Copy | None:
        return next((c for c in self.copies_of(system) if c.destination_site == site), None)


def _props(node: Node) -> dict[str, Any]:
    return node.inputs or {}


def _site_of(node: Node) -> str:
    return node.site or _props(node).get("site")


def _zones(nodes: Iterable[Node]) -> frozenset[str]:
    zones: set[str] = set()
    for node in nodes:
        for key in _ZONE_INPUTS:
            value = node.inputs.get(key)
            values = value if isinstance(value, list) else [value]
            zones |= {v for v in values if isinstance(v, str) and v}
        labels = node.inputs.get("labels")
        if isinstance(labels, dict) and isinstance(labels.get("availability_zone"), str):
            zones.add(labels["availability_zone"])
    return frozenset(zones)


def _anti_affinity(graph: ResourceGraph, nodes: list[Node]) -> bool:
    """True if the servers below are scheduled into an anti-affinity server group (found anywhere in the
    graph: a site declares the groups, its VM groups point at them by dependency or scheduler hint)."""
    def policies(node: Node) -> list[str]:
        value = node.inputs.get("policies") or []
        return [value] if isinstance(value, str) else list(value)  # a string in pulumi-openstack 5

    groups = [n for n in graph.of_type(_SERVER_GROUP) if any("anti-affinity" in str(p) for p in policies(n))]
    ids = {n.id or n.outputs.get("id") for n in groups} - {None}
    urns = {n.urn for n in groups}
    for node in nodes:
        if node.type not in _SERVER_TYPES:
            continue
        hints = node.inputs.get("schedulerHints") or []
        if urns & set(node.dependencies) or any(isinstance(h, dict) and h.get("group") in ids for h in hints):
            return True
    return any(node.urn in urns for node in nodes)


def _binlog_declared(graph: ResourceGraph, target: Node) -> bool:
    """A binlog archive counts only where its BinlogArchive component declares resources (the streamer's
    Deployment, the base-backup job) under the backup target: a property alone archives nothing."""
    return any(node.type == BINLOG_ARCHIVE and any(d.custom for d in graph.descendants(node.urn))
               for node in graph.descendants(target.urn))


def read(graph: ResourceGraph) -> Deployed:
    """The placements, offsite backups, copies and interconnects the graph declares."""
    placements, backups, copies, hollow = [], [], [], []
    # A host archives only if it declares resources (its server), like any placement.
    hosts = {_props(node)["system"]: node.urn for node in graph.components(ARCHIVE_HOST)
             if any(d.custom for d in graph.descendants(node.urn))}
    for node in graph.components(BACKUP_TARGET):
        if not any(d.custom for d in graph.descendants(node.urn)):
            hollow.append(node.urn)
            continue
        p = _props(node)
        declared = p.get("archive_timeout_s")
        runs_on = p.get("archive_runs_on")
        host = hosts.get(p["system"]) if runs_on == ARCHIVE_RUNS_ON_HOST else None
        archives = declared is not None and (host is not None or runs_on == ARCHIVE_RUNS_ON_PRIMARY
                                             or runs_on == BINLOG_RUNS_ON and _binlog_declared(graph, node))
        backups.append(Backup(
            system=p["system"], site=_site_of(node), protects_site=p.get("protects_site"),
            schedule=p.get("schedule"), immutable_days=int(p.get("immutable_days") or 0),
            object_lock_mode=p.get("object_lock_mode"), mechanism=p.get("mechanism"), urn=node.urn,
            archive_lag_s=declared if archives else None, archive_tool=p.get("archive_tool") if archives else None,
            archive_host=host, archive_without_host=declared is not None and not archives
            and runs_on == ARCHIVE_RUNS_ON_HOST))
    for node in graph.components(BUCKET_COPY):
        p = _props(node)
        copies.append(Copy(system=p["system"], source_site=p["source_site"], destination_site=p["destination_site"],
                           schedule=p.get("schedule"), urn=node.urn))
    for type_ in PLACEMENTS:
        for node in graph.components(type_):
            below = graph.descendants(node.urn)
            if not any(d.custom for d in below):
                hollow.append(node.urn)
                continue
            p = _props(node)
            servers = sum(1 for d in below if d.type in _SERVER_TYPES)
            instances = max(servers, int(p.get("node_count") or 0), int(p.get("count") or 0))
            placements.append(Placement(
                system=p["system"], site=_site_of(node), role=p.get("role"), scale=p.get("scale") or "full",
                replication=p.get("replication"), mechanism=p.get("replication_mechanism"),
                replicates_from=p.get("replicates_from"),
                volume_gb=p.get("volume_gb"), zones=_zones([node, *below]), anti_affinity=_anti_affinity(graph, below),
                instances=instances, urn=node.urn))
    interconnects = tuple(tuple(_props(node)["sites"]) for node in graph.components(INTERCONNECT))
    return Deployed(graph.stack, tuple(placements), tuple(backups), tuple(copies), interconnects, tuple(hollow))
