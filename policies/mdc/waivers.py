"""Waivers: a policy set aside for one system or one resource, with a reason and an end date.

The spec's `waivers:` reach the pack as the Platform component's `waivers` property: in its
inputs (the engine analyzes the Platform, the root of every multidc resource, before any of
its children, so resource policies learn them there) and in its outputs (what stack
policies read). Every policy of the pack is built with `resource_policy`/`stack_policy`,
which route a finding that a valid waiver covers away from the policy's own report and into
MDC-PACK-002 (resource findings) or MDC-PACK-003 (stack findings), advisory, with the
waiver's reason: a waived finding is still shown, it no longer blocks. MDC-PACK-004 reports
waivers that cannot be honoured: expired, without a reason, naming no known policy, or not
naming exactly one of a system and a resource. Such a waiver waives nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from multidc.contract import (LABEL_PART_OF, PLATFORM, TAG_SYSTEM, TYPE_PREFIX, WAIVER_EXPIRES, WAIVER_POLICY,
                              WAIVER_REASON, WAIVER_RESOURCE, WAIVER_SYSTEM, WAIVERS)

from mdc import wire
from mdc.common import plain

_POLICY_ID = re.compile(r"^(mdc-[a-z0-9]+-\d{3})(?:-|$)", re.I)
KNOWN: set[str] = set()  # IDs of every policy built here
_WAIVED = "waived"


def policy_id(name: str) -> str:
    """'mdc-net-001-admin-ports-closed' (or 'MDC-NET-001') -> 'MDC-NET-001'."""
    match = _POLICY_ID.match(name.strip())
    return match.group(1).upper() if match else name.strip().upper()


def today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class Waiver:
    policy: str
    system: Optional[str]
    resource: Optional[str]
    reason: str
    expires: Optional[date]
    problem: Optional[str]  # why it cannot be honoured, or None

    @property
    def subject(self) -> str:
        return f"system '{self.system}'" if self.system else f"resource '{self.resource}'"

    def covers(self, policy: str, names: Iterable[str], system: Optional[str]) -> bool:
        if self.problem is not None or self.policy != policy:
            return False
        return (self.system is not None and self.system == system) or (self.resource is not None
                                                                         and self.resource in names)

    @classmethod
    def parse(cls, entry: Any, on: date) -> "Waiver":
        entry = entry if isinstance(entry, Mapping) else {}
        system, resource = entry.get(WAIVER_SYSTEM) or None, entry.get(WAIVER_RESOURCE) or None
        reason = str(entry.get(WAIVER_REASON) or "").strip()
        written = entry.get(WAIVER_EXPIRES)
        try:
            expires = date.fromisoformat(str(written)) if written else None
        except ValueError:
            return cls(policy_id(str(entry.get(WAIVER_POLICY) or "")), system, resource, reason, None,
                       f"its expiry {written!r} is not a date (YYYY-MM-DD)")
        policy = policy_id(str(entry.get(WAIVER_POLICY) or ""))
        problems = [
            (policy not in KNOWN, f"it names policy '{entry.get(WAIVER_POLICY)}', which is not a policy of this pack"),
            (bool(system) == bool(resource), "it must name exactly one of a system and a resource"),
            (not reason, "it gives no reason"),
            (expires is None, "it has no expiry date"),
            (expires is not None and expires < on, f"it expired on {expires.isoformat() if expires else ''}"),
        ]
        problem = next((why for failed, why in problems if failed), None)
        return cls(policy, system, resource, reason, expires, problem)


def parse_all(entries: Any, on: Optional[date] = None) -> tuple[Waiver, ...]:
    on = on or today()
    return tuple(Waiver.parse(entry, on) for entry in (entries if isinstance(entries, list) else []))


# --- waivers learned from the Platform's Analyze, per stack ----------------------------------------

_learned: dict[str, tuple[Waiver, ...]] = {}
# The system of every resource analyzed so far: its own, or its parent's (parents are
# analyzed before their children), so that a Trove instance under a ManagedDatabase is
# covered by a waiver for that database's system.
_systems: dict[str, Optional[str]] = {}
wire.on_configure_stack(_learned.clear)  # a new run of the engine: forget the last stack's
wire.on_configure_stack(_systems.clear)


def _stack_of(urn: str) -> str:
    return urn.split("::", 2)[0] + "::" + urn.split("::", 2)[1] if urn.count("::") >= 2 else ""


def system_of(resource_type: str, props: Mapping[str, Any]) -> Optional[str]:
    """The system a resource says it belongs to: a component's `system`, an OpenStack tag or
    server metadata, a Kubernetes `part-of` label."""
    if resource_type.startswith(TYPE_PREFIX):
        return props.get("system")
    for key in ("tags", "metadata"):
        labels = props.get(key)
        if hasattr(labels, "get") and isinstance(labels.get(TAG_SYSTEM), str):
            return labels.get(TAG_SYSTEM)
    metadata = props.get("metadata")
    labels = metadata.get("labels") if hasattr(metadata, "get") else None
    return labels.get(LABEL_PART_OF) if hasattr(labels, "get") else None


def _route(policy: str, report_violation: ReportViolation, waivers: tuple[Waiver, ...],
           subject: Callable[[Optional[str]], tuple[set[str], Optional[str]]]) -> ReportViolation:
    def report(message: str, urn: Optional[str] = None) -> None:
        names, system = subject(urn)
        waiver = next((w for w in waivers if w.covers(policy, names, system)), None)
        if waiver is None:
            report_violation(message, urn) if urn else report_violation(message)
        else:
            wire.request_state().setdefault(_WAIVED, []).append((policy, urn, message, waiver))
    return report


def resource_policy(*, name: str, description: str, enforcement_level: EnforcementLevel,
                    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
                    config_schema: Any = None) -> ResourceValidationPolicy:
    """A resource policy whose findings valid waivers move to MDC-PACK-002."""
    policy = policy_id(name)
    KNOWN.add(policy)

    def honouring(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type == PLATFORM:
            _learned[_stack_of(args.urn)] = parse_all(plain(args.props.get(WAIVERS) or []))
        waivers = _learned.get(_stack_of(args.urn), ())
        if not waivers:
            return validate(args, report_violation)
        system = _systems.get(args.urn)
        if args.urn not in _systems:
            system = _systems[args.urn] = (system_of(args.resource_type, args.props)
                                           or _systems.get(args.opts.parent or ""))
        return validate(args, _route(policy, report_violation, waivers,
                                     lambda _urn: ({args.name, args.urn}, system)))

    return ResourceValidationPolicy(name=name, description=description, enforcement_level=enforcement_level,
                                    config_schema=config_schema, validate=honouring)


def stack_waivers(resources: Iterable[PolicyResource]) -> tuple[Waiver, ...]:
    """The waivers of every Platform in the stack (from its outputs)."""
    return tuple(waiver for resource in resources if resource.resource_type == PLATFORM
                 for waiver in parse_all(plain(resource.props.get(WAIVERS) or [])))


def _owner_system(resource: PolicyResource) -> Optional[str]:
    node: Optional[PolicyResource] = resource
    while node is not None:
        system = system_of(node.resource_type, node.props)
        if system:
            return system
        node = node.parent
    return None


def stack_policy(*, name: str, description: str, enforcement_level: EnforcementLevel,
                 validate: Callable[[StackValidationArgs, ReportViolation], None],
                 config_schema: Any = None) -> StackValidationPolicy:
    """A stack policy whose findings valid waivers move to MDC-PACK-003."""
    policy = policy_id(name)
    KNOWN.add(policy)

    def honouring(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        waivers = stack_waivers(args.resources)
        if not waivers:
            return validate(args, report_violation)
        by_urn = {r.urn: r for r in args.resources}

        def subject(urn: Optional[str]) -> tuple[set[str], Optional[str]]:
            resource = by_urn.get(urn or "")
            return ({resource.name, resource.urn}, _owner_system(resource)) if resource else (set(), None)

        return validate(args, _route(policy, report_violation, waivers, subject))

    return StackValidationPolicy(name=name, description=description, enforcement_level=enforcement_level,
                                 config_schema=config_schema, validate=honouring)


# --- MDC-PACK-002, 003, 004 --------------------------------------------------------------------

def _report_waived(args: Any, report_violation: ReportViolation) -> None:
    for policy, urn, message, waiver in wire.request_state().get(_WAIVED, []):
        text = (f"{policy} waived for {waiver.subject} until {waiver.expires.isoformat()}: {waiver.reason}. "
                f"The finding: {message}")
        report_violation(text, urn) if urn else report_violation(text)


waived_findings = ResourceValidationPolicy(
    name="mdc-pack-002-waived-findings",
    description="Shows the resource findings that a waiver in the spec sets aside, with the waiver's reason.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_report_waived,
)

waived_stack_findings = StackValidationPolicy(
    name="mdc-pack-003-waived-stack-findings",
    description="Shows the stack findings that a waiver in the spec sets aside, with the waiver's reason.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_report_waived,
)


def validate_waivers_valid(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    platforms = [r for r in args.resources if r.resource_type == PLATFORM]
    for platform in platforms:
        for index, waiver in enumerate(parse_all(plain(platform.props.get(WAIVERS) or []))):
            if waiver.problem:
                report_violation(
                    f"Waiver {index + 1} ({waiver.policy or '?'} for {waiver.subject}) cannot be honoured: "
                    f"{waiver.problem}. The findings it meant to set aside are reported as they are. Renew it "
                    "with a reason and a new expiry date (after review), or remove it.", platform.urn)


waivers_valid = StackValidationPolicy(
    name="mdc-pack-004-waivers-valid",
    description="Requires every policy waiver to name one known policy and one system or resource, to give a "
                "reason and not to have expired.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_waivers_valid,
)
KNOWN.update({"MDC-PACK-001", "MDC-PACK-002", "MDC-PACK-003", "MDC-PACK-004"})
