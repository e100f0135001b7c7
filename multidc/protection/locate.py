"""Where a system's data lives, read from the planned resource graph.

A restore must act on the buckets the Pulumi program actually declares, so this module
never rebuilds a bucket name from the spec: it finds the system's placement components
(``ObjectBucket`` ``<system>-<site>``, ``BackupTarget`` ``<system>-backup-<offsite>``) in
the graph and reads the ``bucket``, ``endpoint`` and ``region`` inputs of the Bucket
resources under them (docs/components.md). Pure functions over a ``ResourceGraph``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from multidc.plan.graph import Node, ResourceGraph
from multidc.contract import BACKUP_TARGET, DYNAMIC as BUCKET_RESOURCE, OBJECT_BUCKET


class LocateError(ValueError):
    """The graph does not hold what a restore needs; the message names the input and the fix."""


@dataclass(frozen=True)
class BucketLocation:
    """One declared bucket: in which site, on which endpoint, and the resource that declares it."""

    site: str
    bucket: str
    endpoint: str
    region: str
    urn: str
    object_lock_mode: Optional[str] = None


@dataclass(frozen=True)
class SystemData:
    """Where one system's data lives: its placements, its live buckets, its backup vault."""

    system: str
    kind: str
    sites: tuple[str, ...]
    live_buckets: dict[str, BucketLocation]  # by site; bucket systems only
    vault: Optional[BucketLocation]  # None when the system has no backup policy
    backup_mechanism: Optional[str]  # pg-dump, rclone-copy, velero, ... (BackupTarget's `mechanism`)

    def live_bucket(self, site: str) -> BucketLocation:
        """The live bucket in ``site``; a LocateError names the sites that have one."""
        if site not in self.live_buckets:
            raise LocateError(
                f"--site {site}: system {self.system!r} has no bucket there; "
                f"its buckets are in {', '.join(sorted(self.live_buckets)) or 'no site'}")
        return self.live_buckets[site]


def _bucket_resource(graph: ResourceGraph, component: Node, bucket: Optional[str]) -> BucketLocation:
    """The Bucket resource under ``component`` named ``bucket`` (the only one when None)."""
    found = [node for node in graph.descendants(component.urn)
             if node.type == BUCKET_RESOURCE and "bucket" in node.inputs
             and (bucket is None or node.inputs["bucket"] == bucket)]
    if len(found) != 1:
        wanted = f"bucket {bucket!r}" if bucket else "one bucket"
        raise LocateError(
            f"the plan holds {len(found)} Bucket resources for {wanted} under {component.name} "
            f"({component.type}), expected exactly one; the component and this reader disagree "
            "(see docs/components.md)")
    node = found[0]
    return BucketLocation(
        site=component.inputs["site"], bucket=node.inputs["bucket"], endpoint=node.inputs["endpoint"],
        region=node.inputs.get("region") or "us-east-1", urn=node.urn,
        object_lock_mode=node.inputs.get("object_lock_mode"))


def locate(graph: ResourceGraph, system: str) -> SystemData:
    """Find where ``system``'s data lives in a planned graph.

    Raises ``LocateError`` when the stack has no such system (naming the systems it has).
    """
    placements = [node for node in graph if node.is_component and node.type.startswith("multidc:")
                  and node.inputs.get("system") == system and "kind" in node.inputs]
    if not placements:
        known = sorted({node.inputs["system"] for node in graph if node.is_component
                        and isinstance(node.inputs.get("system"), str) and "kind" in node.inputs})
        raise LocateError(f"--system {system}: stack {graph.stack!r} has no such system; "
                          f"it has: {', '.join(known)}")
    first = placements[0].inputs
    live = {node.inputs["site"]: _bucket_resource(graph, node, node.inputs.get("bucket"))
            for node in placements if node.type == OBJECT_BUCKET}
    targets = [node for node in graph.components(BACKUP_TARGET) if node.inputs.get("system") == system]
    vault = _bucket_resource(graph, targets[0], targets[0].inputs.get("vault")) if targets else None
    return SystemData(
        system=system, kind=first["kind"], sites=tuple(first.get("sites") or ()), live_buckets=live,
        vault=vault, backup_mechanism=targets[0].inputs.get("mechanism") if targets else None)
