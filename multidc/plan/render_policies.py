"""A policy report for people (a rich table) and for machines (JSON)."""

from __future__ import annotations

import json
from typing import Optional

from rich.console import Console
from rich.table import Table

from multidc.plan.analyzer import PolicyReport

_STYLE = {"mandatory": "bold red", "advisory": "yellow", "remediate": "bold red", "disabled": "dim"}


def _resource(urn: Optional[str]) -> str:
    """'urn:pulumi:s::p::a$openstack:networking/secGroupRule:SecGroupRule::web' -> 'web (SecGroupRule)'."""
    if not urn:
        return "(stack)"
    qualified_type, name = urn.split("::")[-2:]
    return f"{name} ({qualified_type.rsplit('$', 1)[-1].rsplit(':', 1)[-1]})"


def render_policy_report(report: PolicyReport, console: Optional[Console] = None) -> None:
    """Print the verdict: a headline, then one row per violation (mandatory first)."""
    console = console or Console()
    summary = report.summary
    verdict = "[green]passed[/]" if report.ok else "[bold red]blocked[/]"
    console.print(
        f"Policy pack [bold]{report.pack}[/] {report.version} on stack [bold]{report.stack}[/]: {verdict} - "
        f"{summary.passed}/{summary.policies_run} policies passed, {summary.mandatory_violations} mandatory and "
        f"{summary.advisory_violations} advisory violations ({report.seconds:.1f} s)")
    if not report.violations:
        return
    table = Table(show_lines=False, expand=True)
    table.add_column("Policy", no_wrap=True)
    table.add_column("Level", no_wrap=True)
    table.add_column("Resource", overflow="fold", max_width=40)
    table.add_column("Why", overflow="fold", ratio=3)
    ordered = sorted(report.violations, key=lambda v: (v.enforcement != "mandatory", v.policy_id, v.urn or ""))
    for violation in ordered:
        table.add_row(violation.policy_id, f"[{_STYLE.get(violation.enforcement, '')}]{violation.enforcement}[/]",
                      _resource(violation.urn), violation.message)
    console.print(table)


def policy_report_json(report: PolicyReport) -> str:
    """The report as indented JSON (`PolicyReport.to_json`)."""
    return json.dumps(report.to_json(), indent=2, sort_keys=False)
