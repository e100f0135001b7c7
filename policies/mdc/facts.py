"""What a stack's multidc components say about it: sites, placements, backups, copies.

Reads the property contract of docs/components.md, written in `multidc.contract`. Resource policies read a component's
properties from its inputs (the engine's `Analyze` sends them); stack policies read them
from its outputs (`AnalyzeStack` sends only outputs), which is why every component
registers its contract properties as outputs too. `StackFacts.incomplete` lists the
components whose outputs lack them, and `contract.py` reports those, so that a stack policy
never passes for want of the facts it checks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from pulumi_policy import PolicyResource, ResourceValidationArgs

from multidc.contract import (ARCHIVE_HOST, BACKUP_TARGET, BUCKET_COPY, CONTRACT, DELAYED_STANDBY, DYNAMIC,
                              PLACEMENT_KEYS, PLACEMENTS, SITE, STATELESS, STATELESS_REASON, TYPE_PREFIX)

from mdc.common import plain

DATABASE_KINDS = frozenset({"postgres", "mysql", "redis", "clickhouse"})
STATEFUL_KINDS = DATABASE_KINDS | {"bucket", "kubernetes", "ml-platform"}
REPLICATED = frozenset({"active-active", "active-passive"})


def is_bucket(resource_type: str, props: Mapping[str, Any]) -> bool:
    """The boto3 dynamic bucket of `multidc.components.bucket_provider`."""
    return resource_type == DYNAMIC and "bucket" in props and "endpoint" in props


@dataclass(frozen=True)
class Site:
    urn: str
    name: str
    country: str
    latitude: float
    longitude: float
    seismic_zone: str


def distance_km(a: Site, b: Site) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class Placement:
    """One system in one site (a VmGroup, ManagedDatabase, ObjectBucket, KubernetesCluster or MlPlatform)."""

    urn: str
    system: str
    site: str
    kind: str
    tier: str
    topology: str
    role: str
    sites: tuple[str, ...]
    primary_site: str
    replication: Optional[str]
    rpo_seconds: float
    data_classes: tuple[str, ...]
    backup: Optional[Mapping[str, Any]]
    stateless: bool = False
    stateless_reason: str = ""

    @property
    def is_primary(self) -> bool:
        """The placement in the system's first site: where a system-wide verdict is reported."""
        return self.site == self.primary_site

    @property
    def copy_sites(self) -> tuple[str, ...]:
        """Every site holding a copy of the data: its placements and its offsite backups."""
        offsite = (self.backup or {}).get("offsite_site")
        return tuple(dict.fromkeys([*self.sites, *([offsite] if offsite else [])]))

    @classmethod
    def from_props(cls, urn: str, props: Mapping[str, Any]) -> "Placement":
        backup = props.get("backup")
        return cls(
            urn=urn, system=props["system"], site=props["site"], kind=props["kind"], tier=props["tier"],
            topology=props["topology"], role=props["role"], sites=tuple(props["sites"]),
            primary_site=props["primary_site"], replication=props.get("replication"),
            rpo_seconds=float(props["rpo_seconds"]), data_classes=tuple(props["data_classes"] or ()),
            backup=plain(backup) if backup is not None else None, stateless=props.get(STATELESS) is True,
            stateless_reason=str(props.get(STATELESS_REASON) or ""))


def ancestor_urn(resource: PolicyResource, types: tuple[str, ...]) -> Optional[str]:
    """The nearest component of one of ``types`` a resource is declared under (its parent chain), or None."""
    parent = resource.parent
    while parent is not None:
        if parent.resource_type in types:
            return parent.urn
        parent = parent.parent
    return None


def placement_urn(resource: PolicyResource) -> Optional[str]:
    """The placement component a resource is declared under (its parent chain), or None."""
    return ancestor_urn(resource, PLACEMENTS)


def configuration_settings(configuration: PolicyResource) -> dict[str, str]:
    """The parameters a Trove configuration group sets, by name."""
    return {str(item.get("name")): str(item.get("value"))
            for item in plain(configuration.props.get("configurations") or [])}


def placement_of(args: ResourceValidationArgs) -> Optional[Placement]:
    """The placement a resource policy is looking at, from the component's inputs; None for other resources."""
    if args.resource_type not in PLACEMENTS or any(key not in args.props for key in PLACEMENT_KEYS):
        return None
    return Placement.from_props(args.urn, args.props)


@dataclass(frozen=True)
class BackupTarget:
    urn: str
    system: str
    site: str
    protects_site: str
    schedule: str
    immutable_days: float
    object_lock_mode: Optional[str]


@dataclass(frozen=True)
class BucketCopy:
    urn: str
    system: str
    source_site: str
    destination_site: str
    schedule: str


# Servers of ours holding a copy of a system's data: a managed PostgreSQL's archive host, a delayed standby.
DATA_HOSTS = (ARCHIVE_HOST, DELAYED_STANDBY)


@dataclass(frozen=True)
class ArchiveHost:
    """A server of ours holding a copy of a system's data in a site (an archive host or a delayed standby)."""

    urn: str
    system: str
    site: str


@dataclass(frozen=True)
class Incomplete:
    """A multidc component whose outputs lack contract properties."""

    urn: str
    type: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class StackFacts:
    sites: Mapping[str, Site]
    placements: tuple[Placement, ...]
    backup_targets: tuple[BackupTarget, ...]
    copies: tuple[BucketCopy, ...]
    incomplete: tuple[Incomplete, ...]
    archive_hosts: tuple[ArchiveHost, ...] = ()

    def primaries(self) -> list[Placement]:
        """One placement per system: the one in its primary site."""
        return [p for p in self.placements if p.is_primary]

    def placements_of(self, system: str) -> list[Placement]:
        return [p for p in self.placements if p.system == system]

    def backups_of(self, system: str) -> list[BackupTarget]:
        return [b for b in self.backup_targets if b.system == system]

    def copies_of(self, system: str) -> list[BucketCopy]:
        return [c for c in self.copies if c.system == system]

    @classmethod
    def of(cls, resources: Iterable[PolicyResource]) -> "StackFacts":
        sites: dict[str, Site] = {}
        placements, backups, copies, incomplete, hosts = [], [], [], [], []
        for resource in resources:
            keys = CONTRACT.get(resource.resource_type)
            if keys is None:
                continue
            props = resource.props
            missing = tuple(key for key in keys if key not in props)
            if missing:
                incomplete.append(Incomplete(resource.urn, resource.resource_type, missing))
                continue
            if resource.resource_type == SITE:
                sites[props["site"]] = Site(resource.urn, props["site"], props["country"], float(props["latitude"]),
                                            float(props["longitude"]), props["seismic_zone"])
            elif resource.resource_type == BACKUP_TARGET:
                backups.append(BackupTarget(resource.urn, props["system"], props["site"], props["protects_site"],
                                            props["schedule"], float(props["immutable_days"] or 0),
                                            props.get("object_lock_mode")))
            elif resource.resource_type == BUCKET_COPY:
                copies.append(BucketCopy(resource.urn, props["system"], props["source_site"],
                                         props["destination_site"], props["schedule"]))
            elif resource.resource_type in DATA_HOSTS:
                hosts.append(ArchiveHost(resource.urn, props["system"], props["site"]))
            else:
                placements.append(Placement.from_props(resource.urn, props))
        return cls(sites=sites, placements=tuple(placements), backup_targets=tuple(backups),
                   copies=tuple(copies), incomplete=tuple(incomplete), archive_hosts=tuple(hosts))


def component_of(resource: PolicyResource) -> Optional[PolicyResource]:
    """The nearest multidc component above a resource (its parent chain), or None."""
    parent = resource.parent
    while parent is not None:
        if parent.resource_type.startswith(TYPE_PREFIX):
            return parent
        parent = parent.parent
    return None


def descendants(resources: Iterable[PolicyResource]) -> Mapping[str, list[PolicyResource]]:
    """Every resource below each resource, by the ancestor's URN."""
    below: dict[str, list[PolicyResource]] = defaultdict(list)
    for resource in resources:
        parent = resource.parent
        while parent is not None:
            below[parent.urn].append(resource)
            parent = parent.parent
    return below
