"""Service names: a failover is only over for clients once their resolvers forget the lost site.

A record set's TTL is how long a resolver may keep answering with the address it cached.
After a failover re-points a name, clients of a system with a 15-minute RTO must not keep
reaching the burnt site for an hour: the TTL of every service name must not exceed the
RTO of the system it names (MDC-DNS-001).
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from mdc.common import plain, whole
from multidc.contract import PLACEMENTS, SERVICE_NAMES

RECORD_SET = "openstack:dns/recordSet:RecordSet"


def _rto_by_system(args: StackValidationArgs) -> Mapping[str, float]:
    """The RTO each system declares, read from its placements (the strictest if they differ)."""
    rto: dict[str, float] = {}
    for resource in args.resources:
        if resource.resource_type in PLACEMENTS:
            system, seconds = resource.props.get("system"), resource.props.get("rto_seconds")
            if isinstance(system, str) and isinstance(seconds, (int, float)):
                rto[system] = min(seconds, rto.get(system, seconds))
    return rto


def _system_of(record: Any) -> str | None:
    """The system a record set names, from the ServiceNames component that declares it."""
    parent = record.parent
    if parent is None or parent.resource_type != SERVICE_NAMES:
        return None
    name = record.props.get("name")
    entries = plain(parent.props.get("records") or [])
    return next((entry.get("system") for entry in entries if entry.get("name") == name), None)


def validate_ttl_within_rto(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    rto = _rto_by_system(args)
    for resource in args.resources:
        if resource.resource_type != RECORD_SET:
            continue
        system, ttl = _system_of(resource), resource.props.get("ttl")
        if system not in rto or not isinstance(ttl, (int, float)):
            continue
        if ttl > rto[system]:
            report_violation(
                f"Record {resource.props.get('name')} of '{system}' has TTL {whole(ttl)}s, longer than the system's "
                f"RTO of {whole(rto[system])}s: after a failover, resolvers keep sending clients to the lost site "
                f"for up to {whole(ttl)}s. Lower the TTL to at most the RTO (multidc derives a fifth of it).",
                resource.urn)


ttl_within_rto = StackValidationPolicy(
    name="mdc-dns-001-ttl-within-rto",
    description="Requires every service name's TTL to be at most the RTO of the system it names.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_ttl_within_rto,
)
