"""Backups: a copy that replication cannot destroy.

Replicas copy deletions, bad migrations and ransomware's encryption within seconds. What
survives them is a backup kept elsewhere (MDC-BAK-002) that nobody can delete before its
time (003), kept for a defined time (004); every system that holds state should have one
(001).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, StackValidationArgs


from mdc.common import plain, schema, setting, whole
from multidc.contract import BACKUP_TARGET, DATABASE, TAG_BACKUP_OF

from mdc.openstack import DATABASE_INSTANCE
from mdc.facts import STATEFUL_KINDS, StackFacts, descendants, is_bucket, placement_of
from mdc.waivers import resource_policy, stack_policy

COMPLIANCE = "COMPLIANCE"


# --- MDC-BAK-001 ------------------------------------------------------------------------------

def _declared_types(urn: str) -> list[str]:
    """The type chain a URN carries: its parents' types, then its own."""
    return urn.split("::")[2].split("$") if urn.count("::") >= 3 else []


def validate_backup_policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == DATABASE_INSTANCE and DATABASE not in _declared_types(args.urn):
        report_violation(
            f"Database instance '{args.name}' is declared outside the spec, so no backup of it is ever taken: a "
            "deletion, a bad migration or ransomware's encryption cannot be undone. Declare it as a system with "
            "`backup:` in the spec, or waive MDC-BAK-001 for it with the reason its data can be lost.")
        return
    placement = placement_of(args)
    if placement is None or not placement.is_primary or placement.kind not in STATEFUL_KINDS:
        return
    if placement.backup is None and not placement.stateless:
        report_violation(
            f"'{placement.system}' ({placement.kind}) holds state but has no backup policy: its replicas copy "
            "deletions and ransomware's encryption too, so neither can be undone. Add `backup:` with a schedule, "
            "retention and an offsite_site, or, if it keeps nothing worth restoring (a cache, a job runner), "
            "declare it `stateless: true` with a `stateless_reason`.")


backup_policy = resource_policy(
    name="mdc-bak-001-backup-policy",
    description="Requires every stateful system (database, bucket, cluster, ML platform) not declared stateless, "
                "and every database instance, to have a backup policy.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=validate_backup_policy,
)


# --- MDC-BAK-002 ------------------------------------------------------------------------------

def validate_offsite_copy(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    for placement in facts.primaries():
        if placement.backup is None:
            continue
        offsite = placement.backup["offsite_site"]
        if offsite == placement.primary_site:
            report_violation(
                f"'{placement.system}' backs up into its own primary site '{offsite}': the fire that destroys the "
                "system destroys its backups. Set backup.offsite_site to another site.", placement.urn)
            continue
        targets = facts.backups_of(placement.system)
        if not any(target.site == offsite for target in targets):
            report_violation(
                f"'{placement.system}' names '{offsite}' as its backup site, but no backup target is declared there: "
                "no backup is ever written. Declare its BackupTarget in that site.", placement.urn)
        for target in targets:
            if target.site == target.protects_site:
                report_violation(
                    f"The backup target of '{placement.system}' is in '{target.site}', the site it protects: one "
                    "disaster takes the system and its backups. Move it to another site.", target.urn)


offsite_copy = stack_policy(
    name="mdc-bak-002-offsite-copy",
    description="Requires every backup to be written to a site other than the system's primary site.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_offsite_copy,
)


# --- MDC-BAK-003 ------------------------------------------------------------------------------

IMMUTABLE_SCHEMA = schema(min_immutable_days={
    "type": "integer", "minimum": 1, "default": 14,
    "description": "Least number of days a critical system's backups stay under COMPLIANCE object lock.",
})


def validate_immutable_copies(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    minimum = float(setting(args.get_config(), IMMUTABLE_SCHEMA, "min_immutable_days"))
    days = whole(minimum)
    below = descendants(args.resources)
    vaults = {r.urn: r.props.get("vault") for r in args.resources if r.resource_type == BACKUP_TARGET}
    why = ("ransomware with the project's credentials deletes or encrypts every copy it can write, backups "
           "included; only versions under COMPLIANCE object lock survive")
    for placement in facts.primaries():
        if placement.tier != "critical" or placement.backup is None:
            continue  # a missing backup is MDC-BAK-001's finding
        immutable_days = float(placement.backup.get("immutable_days") or 0)
        if immutable_days < minimum:
            report_violation(
                f"'{placement.system}' is critical but its backups are immutable for {whole(immutable_days)} days, "
                f"under the {days}-day minimum: {why}. Set backup.immutable_days to at least {days}.", placement.urn)
            continue
        for target in facts.backups_of(placement.system):
            if target.object_lock_mode != COMPLIANCE or target.immutable_days < minimum:
                report_violation(
                    f"The backup target of '{placement.system}' declares lock {target.object_lock_mode or 'none'} for "
                    f"{whole(target.immutable_days)} days; {why}. Lock its vault in COMPLIANCE mode for at least "
                    f"{days} days.", target.urn)
            vault = [r for r in below.get(target.urn, [])
                     if is_bucket(r.resource_type, r.props) and r.props.get("bucket") == vaults.get(target.urn)]
            if not vault:
                report_violation(
                    f"The backup target of '{placement.system}' declares vault '{vaults.get(target.urn)}' but no such "
                    "bucket is declared under it, so nothing is locked.", target.urn)
            for bucket in vault:
                mode, lock_days = bucket.props.get("object_lock_mode"), float(bucket.props.get("object_lock_days") or 0)
                if mode != COMPLIANCE or lock_days < minimum:
                    report_violation(
                        f"Vault bucket '{bucket.props.get('bucket')}' of '{placement.system}' has object lock "
                        f"{mode or 'off'} for {whole(lock_days)} days; {why}. Create it with object_lock_mode "
                        f"COMPLIANCE and object_lock_days >= {days} (lock can only be enabled when a bucket is "
                        "created).", bucket.urn)


immutable_copies = stack_policy(
    name="mdc-bak-003-immutable-copies",
    description="Requires the backups of every critical system to be kept under COMPLIANCE object lock "
                "for at least min_immutable_days.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=IMMUTABLE_SCHEMA,
    validate=validate_immutable_copies,
)


# --- MDC-BAK-004 ------------------------------------------------------------------------------

def _copies(value: Any) -> float:
    """A retention count however it is spelled (7, 7.0, "7"); anything else, or negative, keeps none."""
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 0.0


def validate_retention(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if is_bucket(args.resource_type, args.props) and TAG_BACKUP_OF in (args.props.get("tags") or {}):
        for key in ("lifecycle_days", "noncurrent_days"):
            days = args.props.get(key)
            if days is not None and _copies(days) < 1:
                report_violation(
                    f"Backup vault '{args.props.get('bucket')}' expires its objects after {days} days ({key}): every "
                    "backup is deleted the day it is written. Keep them at least as long as the retention.")
        return
    if args.resource_type != BACKUP_TARGET:
        return
    retention = plain(args.props.get("retention") or {})
    kept = {key: _copies(args.props.get(key, retention.get(key) if isinstance(retention, dict) else None))
            for key in ("daily", "weekly", "monthly")}
    if sum(kept.values()) < 1:
        report_violation(
            f"The backups of '{args.props.get('system')}' keep no daily, weekly or monthly copy: every backup "
            "expires as soon as it is written, so there is nothing to restore. Set backup.retention "
            "(e.g. daily: 7, weekly: 4, monthly: 12).")
    if not str(args.props.get("schedule") or "").strip():
        report_violation(f"The backups of '{args.props.get('system')}' have no schedule, so none is ever taken. "
                         "Set backup.schedule to a cron expression, e.g. '0 2 * * *'.")


retention = resource_policy(
    name="mdc-bak-004-retention",
    description="Requires every backup target to have a schedule and to keep at least one daily, weekly "
                "or monthly copy, and backup vaults not to expire what they keep.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_retention,
)
