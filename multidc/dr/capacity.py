"""Failover capacity: what each site uses now, and after each site's loss, against its declared quota.

Pure functions over the spec and the planned graph. The graph's placement components say
what runs where and how big (``flavor``, ``node_count`` now, ``full_node_count`` at full
size, ``volume_gb``); GPU pools and load balancers' floating IPs add theirs. When a site is
lost, every warm standby in a surviving site of a system whose primary was in the lost site
scales to full size (what the failover runbook does); active-active placements are already
full. A site whose declared quota cannot hold that gets a verdict that misses and names the
resource, with the numbers.

Counted: worker nodes, VMs, database instances and archive hosts (as instances, and their flavor's
vCPUs, RAM and GPUs), database volumes, VM boot volumes and the archive hosts' data and boot
volumes, floating IPs (public load balancers and public ML endpoints). The quota judged is the site's declared one, or the one its cloud states
(`multidc plan --read-quotas`, multidc.dr.cloud_quota), with where the two differ. Not counted: Kubernetes control-plane
nodes (Magnum's master flavor is the provider's), load balancer amphorae (the provider's
quota), object storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from multidc.contract import (ARCHIVE_HOST, DATABASE, GPU_POOL, KUBERNETES, LOAD_BALANCER, ML_ENDPOINTS, PUBLIC, STANDBY,
                              VM_GROUP)
from multidc.plan.graph import ResourceGraph
from multidc.spec import Platform
from multidc.spec.capacity import FlavorSize, Quota

RESOURCES = ("vcpus", "ram_gb", "instances", "volume_gb", "floating_ips", "gpus")
UNITS = {"vcpus": "vCPUs", "ram_gb": "GB RAM", "instances": "instances", "volume_gb": "GB volumes",
         "floating_ips": "floating IPs", "gpus": "GPUs"}
_FLAVOR_SIZE = re.compile(r"-(\d+)-(\d+)$")
NOW = "now"

Usage = dict[str, float]


class UnknownFlavor(ValueError):
    """A flavor whose size is neither in its name nor in the site's ``quota.flavors``."""


def flavor_size(flavor: str, quota: Optional[Quota]) -> FlavorSize:
    """The site's catalogue entry, else the size in the name (``STD3-4-8``: 4 vCPUs, 8 GB)."""
    if quota is not None and flavor in quota.flavors:
        return quota.flavors[flavor]
    match = _FLAVOR_SIZE.search(flavor)
    if match is None:
        raise UnknownFlavor(f"flavor {flavor!r}: its size is not in its name (<family>-<vCPUs>-<RAM GB>); declare "
                            f"it under the site's quota.flavors, e.g. {{{flavor}: {{vcpus: 4, ram_gb: 8}}}}")
    return FlavorSize(vcpus=int(match.group(1)), ram_gb=float(match.group(2)))


@dataclass(frozen=True)
class _Footprint:
    """One placement's demand: per node, how many nodes now and at full size."""

    system: str
    site: str
    primary_site: str
    role: str
    flavor: Optional[str]
    nodes_now: int
    nodes_full: int
    volume_gb_per_node: float = 0
    gpus_per_node: int = 0
    floating_ips: int = 0


def _footprints(graph: ResourceGraph) -> list[_Footprint]:
    """What each component demands; a component without the sizing properties demands nothing."""
    found = []
    for node in graph.of_type(VM_GROUP, DATABASE, ARCHIVE_HOST, KUBERNETES, GPU_POOL, LOAD_BALANCER, ML_ENDPOINTS):
        p: Mapping[str, Any] = node.inputs
        system, site = p.get("system"), p.get("site")
        if not isinstance(system, str) or not isinstance(site, str):
            continue
        if node.type in (LOAD_BALANCER, ML_ENDPOINTS):
            shown = p.get("endpoints") if node.type == ML_ENDPOINTS else {"": p.get("visibility")}
            public = sum(1 for visibility in (shown or {}).values() if visibility == PUBLIC)
            found.append(_Footprint(system, site, site, "", None, 0, 0, floating_ips=public))
            continue
        now = int(p.get("node_count") or 0)
        if node.type == GPU_POOL:
            found.append(_Footprint(system, site, site, "", p.get("flavor"), now, now,
                                    gpus_per_node=int(p.get("gpus_per_node") or 0)))
            continue
        volume = float(p.get("volume_gb") or 0) + float(p.get("boot_volume_gb") or 0) \
            if node.type in (VM_GROUP, DATABASE, ARCHIVE_HOST) else 0
        found.append(_Footprint(system, site, p.get("primary_site", site), p.get("role", ""), p.get("flavor"),
                                now, int(p.get("full_node_count") or now), volume_gb_per_node=volume))
    return found


def _usage(footprints: list[_Footprint], platform: Platform, site: str, lost: Optional[str]) -> Usage:
    quota = platform.site(site).quota
    used = {resource: 0.0 for resource in RESOURCES}
    for fp in footprints:
        if fp.site != site:
            continue
        scales_up = lost is not None and fp.role == STANDBY and fp.primary_site == lost
        nodes = fp.nodes_full if scales_up else fp.nodes_now
        if fp.flavor is not None:
            size = flavor_size(fp.flavor, quota)
            used["vcpus"] += nodes * size.vcpus
            used["ram_gb"] += nodes * size.ram_gb
            used["gpus"] += nodes * max(size.gpus, fp.gpus_per_node)
            used["instances"] += nodes
        used["volume_gb"] += nodes * fp.volume_gb_per_node
        used["floating_ips"] += fp.floating_ips
    return used


@dataclass(frozen=True)
class CapacityVerdict:
    """One site in one situation (now, or after losing ``lost``): does its quota hold what it must run?"""

    site: str
    lost: Optional[str]
    used: Usage
    quota: Optional[Quota]
    problem: Optional[str] = None  # a flavor of unknown size: the figures are incomplete
    source: str = "declared"  # or "cloud": read from the site's cloud (multidc.dr.cloud_quota)
    declared: Optional[Quota] = None
    """The spec's quota where the judged one was read from the cloud (for the comparison)."""

    @property
    def differs(self) -> list[str]:
        """Each limit the spec declares that the cloud states otherwise."""
        if self.source != "cloud" or self.declared is None or self.quota is None:
            return []
        return [f"{UNITS[r]}: declared {getattr(self.declared, r)}, the cloud says {getattr(self.quota, r)}"
                for r in RESOURCES if getattr(self.declared, r) is not None
                and getattr(self.declared, r) != getattr(self.quota, r)]

    @property
    def situation(self) -> str:
        return NOW if self.lost is None else f"after losing {self.lost}"

    @property
    def over(self) -> list[str]:
        """Every resource above its declared limit, with the numbers."""
        if self.quota is None:
            return []
        return [f"{UNITS[r]}: needs {_n(self.used[r])}, quota {getattr(self.quota, r)}" for r in RESOURCES
                if getattr(self.quota, r) is not None and self.used[r] > getattr(self.quota, r)]

    @property
    def fits(self) -> bool:
        return self.problem is None and not self.over

    @property
    def misses(self) -> bool:
        """A declared quota that does not hold what the site must run (or cannot be counted)."""
        return self.quota is not None and not self.fits

    @property
    def reason(self) -> str:
        if self.problem is not None:
            return f"{self.site} {self.situation}: cannot count: {self.problem}"
        if self.over:
            return f"{self.site} {self.situation} does not fit its quota: " + "; ".join(self.over)
        return f"{self.site} {self.situation} fits its quota"

    def to_json(self) -> dict[str, Any]:
        return {"site": self.site, "lost_site": self.lost, "used": dict(self.used),
                "quota": None if self.quota is None else self.quota.model_dump(exclude={"flavors"}),
                "quota_source": self.source, "declared_differs": self.differs,
                "fits": self.fits, "misses": self.misses, "over": self.over, "reason": self.reason}


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def capacity(platform: Platform, graph: ResourceGraph,
             read: Optional[Mapping[str, Quota]] = None) -> tuple[CapacityVerdict, ...]:
    """Per site: its usage now and after the loss of each other site, judged where a quota is declared, or
    against the quota `read` from the site's cloud (`multidc plan --read-quotas`)."""
    footprints = _footprints(graph)
    verdicts = []
    for site in platform.sites:
        from_cloud = (read or {}).get(site.name)
        quota = site.quota if from_cloud is None else from_cloud.model_copy(
            update={"flavors": site.quota.flavors if site.quota else {}})
        for lost in [None, *(other.name for other in platform.sites if other.name != site.name)]:
            try:
                used, problem = _usage(footprints, platform, site.name, lost), None
            except UnknownFlavor as error:
                used, problem = {resource: 0.0 for resource in RESOURCES}, str(error)
            verdicts.append(CapacityVerdict(site.name, lost, used, quota, problem,
                                            source="declared" if from_cloud is None else "cloud",
                                            declared=site.quota if from_cloud is not None else None))
    return tuple(verdicts)
