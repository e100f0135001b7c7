"""Disaster recovery: critical systems survive the loss of a site.

A site is lost to fire, flood, earthquake, a power or network failure: every critical
system needs a copy elsewhere (MDC-DR-001), far enough away and on different ground that
one regional disaster does not take both (002, 003); an active-passive system needs the
standby it would fail over to (004); and the way its data is copied must be able to keep
the promised RPO (005, 006).
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Optional

from croniter import croniter
from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, StackValidationArgs

from mdc.common import schema, setting, whole
from mdc.facts import DATABASE_KINDS, REPLICATED, StackFacts, distance_km, placement_of
from mdc.waivers import resource_policy, stack_policy


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


# --- MDC-DR-001 -------------------------------------------------------------------------------

def validate_two_sites(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    placement = placement_of(args)
    if placement is None or not placement.is_primary or placement.tier != "critical":
        return
    if len(placement.copy_sites) < 2:
        report_violation(
            f"'{placement.system}' is critical but every copy of it is in '{placement.site}': a fire, flood or "
            "earthquake there loses it for good. Place it active-passive or active-active in a second site, or "
            "give it a backup policy whose offsite_site is another site.")


two_sites = resource_policy(
    name="mdc-dr-001-two-sites",
    description="Requires every critical system to keep a copy (placement or offsite backup) in at least two sites.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_two_sites,
)


# --- MDC-DR-002 -------------------------------------------------------------------------------

SITE_DISTANCE_SCHEMA = schema(min_distance_km={
    "type": "number", "minimum": 0, "default": 100,
    "description": "Least distance between two sites holding copies of a critical system "
                   "(BSI: never under 100 km, 200 km recommended).",
})


def validate_site_distance(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    minimum = float(setting(args.get_config(), SITE_DISTANCE_SCHEMA, "min_distance_km"))
    for placement in facts.primaries():
        if placement.tier != "critical":
            continue
        primary = facts.sites.get(placement.site)
        for other_name in placement.copy_sites[1:]:
            other = facts.sites.get(other_name)
            if primary is None or other is None:
                missing = placement.site if primary is None else other_name
                report_violation(f"'{placement.system}' has a copy in '{missing}', but the stack declares no site "
                                 "of that name, so its distance cannot be checked.", placement.urn)
                continue
            distance = distance_km(primary, other)
            if distance < minimum:
                report_violation(
                    f"'{placement.system}' keeps its copies in '{primary.name}' and '{other.name}', {distance:.0f} km "
                    f"apart, under the {whole(minimum)} km minimum: one regional disaster (flood, grid failure, "
                    f"earthquake) can hit both. Use a site at least {whole(minimum)} km away (BSI recommends 200 km).",
                    placement.urn)


site_distance = stack_policy(
    name="mdc-dr-002-site-distance",
    description="Requires the sites holding copies of a critical system to be at least min_distance_km apart.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=SITE_DISTANCE_SCHEMA,
    validate=validate_site_distance,
)


# --- MDC-DR-003 -------------------------------------------------------------------------------

def validate_seismic_zones(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    for placement in facts.primaries():
        if placement.tier != "critical" or len(placement.copy_sites) < 2:
            continue
        zones = {name: facts.sites[name].seismic_zone for name in placement.copy_sites if name in facts.sites}
        if len(zones) == len(placement.copy_sites) and all(zone == "high" for zone in zones.values()):
            report_violation(
                f"'{placement.system}' keeps every copy in a high seismic zone ({', '.join(zones)}): one earthquake "
                "can take out all of them. Keep at least one copy in a site of low or moderate seismic zone.",
                placement.urn)


seismic_zones = stack_policy(
    name="mdc-dr-003-seismic-zones",
    description="Prohibits keeping every copy of a critical system in high seismic zones.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_seismic_zones,
)


# --- MDC-DR-004 -------------------------------------------------------------------------------

def validate_standby_placed(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    for placement in facts.primaries():
        if placement.topology != "active-passive":
            continue
        standby_sites = {p.site for p in facts.placements_of(placement.system) if p.role == "standby"}
        for site in placement.sites[1:]:
            if site not in standby_sites:
                report_violation(
                    f"'{placement.system}' is active-passive with '{site}' as a secondary site, but nothing is placed "
                    f"there as its standby: when '{placement.site}' is lost there is nothing to fail over to. Declare "
                    f"the standby placement '{placement.system}-{site}'.", placement.urn)


standby_placed = stack_policy(
    name="mdc-dr-004-standby-placed",
    description="Requires every active-passive system to have a standby placement in each of its secondary sites.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_standby_placed,
)


# --- MDC-DR-005 -------------------------------------------------------------------------------

def validate_zero_rpo_sync(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    placement = placement_of(args)
    if placement is None or not placement.is_primary or placement.rpo_seconds != 0:
        return
    if placement.replication != "sync":
        how = "replicates asynchronously" if placement.replication == "async" else "is not replicated"
        report_violation(
            f"'{placement.system}' promises RPO 0 but {how}: the commits in flight when '{placement.site}' is lost "
            "are gone. Replicate it synchronously (replication: sync) or promise an RPO above zero.")


zero_rpo_sync = resource_policy(
    name="mdc-dr-005-zero-rpo-sync",
    description="Requires synchronous replication for every system that promises RPO 0.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_zero_rpo_sync,
)


# --- MDC-DR-006 -------------------------------------------------------------------------------

_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
_MAX_FIRINGS = 20000


@lru_cache(maxsize=256)
def longest_gap_seconds(schedule: str) -> Optional[float]:
    """The longest time between two runs of a cron schedule; None if it is not a cron schedule.

    Schedules that name days of the month or months are followed for a leap year and a bit;
    the others repeat weekly and are followed for eight days.
    """
    if not croniter.is_valid(schedule) or len(schedule.split()) != 5:
        return None
    day_of_month, month = schedule.split()[2:4]
    horizon = (400 if (day_of_month, month) != ("*", "*") else 8) * 86400
    runs = croniter(schedule, _EPOCH)
    previous = runs.get_next(float)
    start, longest = previous, 0.0
    for _ in range(_MAX_FIRINGS):
        current = runs.get_next(float)
        longest = max(longest, current - previous)
        previous = current
        if current - start > horizon:
            break
    return longest


def _window_problem(system: str, what: str, schedule: str, rpo: float) -> Optional[str]:
    gap = longest_gap_seconds(schedule)
    if gap is None:
        return f"'{system}': the {what} schedule {schedule!r} is not a five-field cron expression."
    if gap > rpo:
        return (f"'{system}' promises RPO {_duration(rpo)}, but its {what} runs on {schedule!r}, up to "
                f"{_duration(gap)} apart: a site lost just before a run loses up to {_duration(gap)} of data. "
                f"Run it at least every {_duration(rpo)} or promise an RPO of {_duration(gap)}.")
    return None


def validate_loss_window(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    for placement in facts.primaries():
        rpo, system = placement.rpo_seconds, placement.system
        if placement.kind in DATABASE_KINDS and placement.replication:
            continue  # bounded by replication; RPO 0 is MDC-DR-005's
        if placement.kind == "bucket" and placement.topology in REPLICATED:
            copies = facts.copies_of(system)
            if not copies:
                report_violation(f"'{system}' is a replicated bucket but nothing copies it between its sites: its "
                                 "standby copy never changes. Declare its bucket copies.", placement.urn)
            for copy in copies:
                problem = _window_problem(system, f"copy from '{copy.source_site}' to '{copy.destination_site}'",
                                          copy.schedule, rpo)
                if problem:
                    report_violation(problem, copy.urn)
        elif placement.topology not in REPLICATED and placement.backup:
            problem = _window_problem(system, "backup", placement.backup["schedule"], rpo)
            if problem:
                report_violation(problem, placement.urn)


loss_window = stack_policy(
    name="mdc-dr-006-loss-window",
    description="Requires the copy or backup that bounds a system's data loss to run at least once per RPO.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_loss_window,
)
