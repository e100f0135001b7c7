"""Replication claims: a database standby that promises sync or async replication must have a mechanism
that realises it (MDC-REP-001), and a managed PostgreSQL replicated logically the server parameters
that mechanism needs and its customer cannot set by SQL (MDC-REP-002).

ClickHouse (and any engine with no cross-site mechanism here) is deployed backup-only: its
standby is restored from backups, so a `replication: sync` or `async` on it is a promise nothing
keeps. Redis replicates asynchronously only, so `sync` on it is not kept either. The mechanisms
that are realised at `pulumi up` (by a ReplicationLink) are listed in `multidc.contract`.
"""

from __future__ import annotations

import re

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs)

from multidc.contract import (LINK_MECHANISMS, LOGICAL, REPLICAOF, SYNCHRONOUS_STANDBY_NAMES, WAL_LEVEL,
                              subscription_name)

from mdc.facts import DATABASE_KINDS, StackFacts, configuration_settings, placement_of, placement_urn
from mdc.openstack import DATABASE_CONFIGURATION, DATABASE_INSTANCE
from mdc.waivers import stack_policy


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


# --- MDC-REP-002 ------------------------------------------------------------------------------

def _missing(settings: dict[str, str], primary: bool, sync: bool, subscriptions: list[str]) -> list[str]:
    missing = []
    if settings.get(WAL_LEVEL, "").lower() != "logical":
        missing.append(f"{WAL_LEVEL} = logical (without it no publication can be subscribed to)")
    named = set(re.findall(r"[A-Za-z0-9_$]+", settings.get(SYNCHRONOUS_STANDBY_NAMES, "").lower()))
    absent = [name for name in subscriptions if name not in named]
    if primary and sync and absent:
        missing.append(f"{SYNCHRONOUS_STANDBY_NAMES} naming {', '.join(absent)} (without it commits return before "
                       "the subscriber has them, so RPO 0 is not kept)")
    return missing


def validate_trove_logical_parameters(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    by_urn = {resource.urn: resource for resource in args.resources}
    for placement in facts.placements:
        if placement.kind != "postgres":
            continue
        logical = [p for p in facts.placements_of(placement.system) if p.role == "standby"
                   and by_urn[p.urn].props.get("replication_mechanism") == LOGICAL]
        if not logical:
            continue
        subscriptions = [subscription_name(p.system, p.site) for p in logical]
        sync = placement.replication == "sync"
        for instance in args.resources:
            if instance.resource_type != DATABASE_INSTANCE or placement_urn(instance) != placement.urn:
                continue
            settings: dict[str, str] = {}
            for dependency in instance.dependencies:
                if dependency.resource_type == DATABASE_CONFIGURATION:
                    settings.update(configuration_settings(dependency))
            missing = _missing(settings, placement.role == "primary", sync, subscriptions)
            if missing:
                report_violation(
                    f"'{instance.name}' ({placement.role} of '{placement.system}' in '{placement.site}', replicated "
                    f"logically{' with sync' if sync else ''}) has no configuration group setting "
                    f"{'; '.join(missing)}. On Trove the customer has no superuser, so ALTER SYSTEM is refused: "
                    "attach a configuration group (configuration_id) that sets them.", instance.urn)


trove_logical_parameters = stack_policy(
    name="mdc-rep-002-trove-logical-parameters",
    description="Requires managed PostgreSQL replicated logically to set wal_level = logical, and the primary of a "
                "sync system synchronous_standby_names naming its subscriptions, through a configuration group.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_trove_logical_parameters,
)
