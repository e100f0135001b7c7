"""Replication claims: a database standby that promises sync or async replication must have a mechanism
that realises it (MDC-REP-001).

ClickHouse (and any engine with no cross-site mechanism here) is deployed backup-only: its
standby is restored from backups, so a `replication: sync` or `async` on it is a promise nothing
keeps. Redis replicates asynchronously only, so `sync` on it is not kept either. The mechanisms
that are realised at `pulumi up` (by a ReplicationLink) are listed in `multidc.contract`.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from multidc.contract import LINK_MECHANISMS, REPLICAOF

from mdc.facts import DATABASE_KINDS, placement_of


def validate_replication_realised(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    placement = placement_of(args)
    if placement is None or placement.kind not in DATABASE_KINDS or placement.role != "standby" \
            or placement.replication not in ("sync", "async"):
        return
    mechanism = args.props.get("replication_mechanism")
    if mechanism not in LINK_MECHANISMS:
        report_violation(
            f"'{placement.system}' ({placement.kind}) claims {placement.replication} replication into "
            f"'{placement.site}', but its mechanism is {mechanism or 'none'}: nothing replicates it across sites, "
            "so the standby holds only what the last backup restored. Drop `replication:` (backup-only, and an RPO "
            "no shorter than the backup interval) or use an engine with a cross-site mechanism.")
    elif mechanism == REPLICAOF and placement.replication == "sync":
        report_violation(
            f"'{placement.system}' (redis) claims sync replication into '{placement.site}', but Redis replicates "
            "asynchronously only (REPLICAOF): writes acknowledged before they are streamed are lost with the "
            "primary's site. Declare replication: async with an RPO above zero, and use WAIT where a write must "
            "reach the replica.")


replication_realised = ResourceValidationPolicy(
    name="mdc-rep-001-replication-realised",
    description="Requires every database standby that claims sync or async replication to have a cross-site "
                "mechanism that realises it (async only for Redis).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_replication_realised,
)
