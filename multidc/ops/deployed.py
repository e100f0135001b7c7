"""What is deployed, as the runbook reads it: the stack outputs turned into the DR inventory.

The same `multidc.dr.inventory.Deployed` the offline plan gives, built from the outputs
document instead of the planned graph, so `failover` and `failback` plan their steps from
what `pulumi up` (or `multidc local up`) deployed. A test proves both give the same runbooks
for every example stack.
"""

from __future__ import annotations

from multidc.contract import placement_name
from multidc.dr.inventory import Backup, Copy, Deployed, Placement

from .outputs import StackOutputs


def deployed(outputs: StackOutputs) -> Deployed:
    """The placements, offsite backups, copies and interconnects the outputs document lists."""
    placements, backups, copies = [], [], []
    for name, system in outputs.systems.items():
        for site, placed in system.placements.items():
            placements.append(Placement(
                system=name, site=site, role=placed.role, scale=placed.scale, replication=system.replication,
                mechanism=placed.replication_mechanism,
                replicates_from=placement_name(name, placed.replicates_from) if placed.replicates_from else None,
                volume_gb=placed.volume_gb, zones=frozenset(), anti_affinity=False, instances=1,
                urn=placed.urn or f"{name}-{site}"))
        if system.backup is not None:
            backup = system.backup
            backups.append(Backup(system=name, site=backup.site, protects_site=backup.protects_site,
                                  schedule=backup.schedule, immutable_days=backup.immutable_days,
                                  object_lock_mode=backup.object_lock_mode, mechanism=backup.mechanism,
                                  urn=backup.urn or f"{name}-backup-{backup.site}",
                                  archive_lag_s=backup.archive.archive_timeout_s if backup.archive else None))
        copies += [Copy(system=name, source_site=c.source_site, destination_site=c.destination_site,
                        schedule=c.schedule, urn=c.urn or f"{name}-copy-{c.source_site}-to-{c.destination_site}")
                   for c in system.copies]
    interconnects = tuple(tuple(pair) for pair in outputs.interconnects)
    return Deployed(outputs.stack, tuple(placements), tuple(backups), tuple(copies), interconnects, ())
