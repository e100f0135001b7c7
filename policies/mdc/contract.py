"""The pack's own precondition: the stack policies can see the facts they check.

Stack policies read sites, placements, backups and copies from the components' outputs.
A component that does not register its contract properties as outputs would make every
one of them pass without having looked; this policy makes that visible instead.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from mdc.facts import StackFacts


def validate_component_contract(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for component in StackFacts.of(args.resources).incomplete:
        report_violation(
            f"Component {component.type} does not register {', '.join(component.missing)} as outputs, so the "
            "stack policies (DR, backups, residency, PCI) cannot check it and would pass it unseen. Register the "
            "component's contract properties with register_outputs (docs/components.md).", component.urn)


component_contract = StackValidationPolicy(
    name="mdc-pack-001-component-contract",
    description="Requires every multidc component to register the contract properties the stack policies read.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_component_contract,
)
