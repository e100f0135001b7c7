"""The `multidc` command: plan a stack offline, and the commands each area registers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from multidc import project
from multidc.contract import OUTPUTS_KEY
from multidc.console import print_error
from multidc.spec import Platform, SpecError, load_stack

app = typer.Typer(
    name="multidc",
    help="One typed spec, a whole platform across data centers: plan it, check it, recover it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Piped output (CI logs, `make plan | less`) gets room for the policy and resilience tables;
# a terminal keeps its own width.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 180)
errors = Console(stderr=True)


def load_or_exit(stack: str) -> Platform:
    """Load a stack's spec; a bad spec ends the command with its problems and exit code 2."""
    try:
        return load_stack(stack, project.root())
    except SpecError as error:
        print_error(errors, str(error))
        raise typer.Exit(2)


def _policy_config(path: Optional[Path], stack: str) -> Optional[Path]:
    """The stack's policy config: the one given, else stacks/policy-config.<stack>.json if present."""
    if path is not None:
        if not path.is_file():
            print_error(errors, f"--policy-config {path}: no such file")
            raise typer.Exit(2)
        return path
    default = project.stacks_dir() / f"policy-config.{stack}.json"
    return default if default.is_file() else None


@app.command()
def plan(
    stack: str = typer.Option(..., "--stack", "-s", help="stack name: stacks/Pulumi.<stack>.yaml"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (graph, policies, assessment)"),
    policy_config: Optional[Path] = typer.Option(
        None, "--policy-config", help="policy pack config (the file `pulumi preview --policy-pack-config` takes)"),
    policies: bool = typer.Option(True, "--policies/--no-policies", help="run the policy pack over the plan"),
    export_manifests: Optional[Path] = typer.Option(
        None, "--export-manifests", help="write the Kubernetes objects and Helm releases as YAML into this folder"),
    read_quotas: bool = typer.Option(
        False, "--read-quotas", help="read each site's quota from its cloud (clouds.yaml entry: cloud.profile, "
        "default the site's name) through openstacksdk and judge failover capacity with it"),
) -> None:
    """Plan a stack offline: the real Pulumi program under mocks, checked and assessed.

    Exits 2 on a bad spec (or, with --read-quotas, a cloud whose quota cannot be read), 1 when a mandatory
    policy is violated, else 0.
    """
    from multidc.dr.assessment import assess
    from multidc.plan.capture import plan as run_plan
    from multidc.plan.render import plan_renderable

    platform = load_or_exit(stack)
    quotas = None
    if read_quotas:  # before the plan: a cloud that does not answer stops here, in seconds
        from multidc.dr.cloud_quota import QuotaReadError, read_quotas as read_cloud_quotas

        try:
            read = read_cloud_quotas(platform)
        except QuotaReadError as error:
            print_error(errors, str(error))
            raise typer.Exit(2)
        for found in read.values():
            for note in found.notes:
                errors.print(f"note: site {found.site}: {note}", markup=False, highlight=False)
        quotas = {site: found.quota for site, found in read.items()}
    graph = run_plan(platform, stack)
    report = None
    if policies:
        from multidc.plan.analyzer import PolicyConfigError, PolicyPackError, load_policy_config, run_policy_pack

        config_path = _policy_config(policy_config, stack)
        try:
            config = load_policy_config(config_path) if config_path is not None else None
            report = run_policy_pack(graph, pack_dir=project.policies_dir(), config=config)
        except PolicyConfigError as error:
            print_error(errors, f"policy config {config_path}: {error}")
            raise typer.Exit(2)
        except PolicyPackError as error:
            print_error(errors, f"the policy pack could not run: {error}")
            raise typer.Exit(2)
    assessment = assess(platform, graph, quotas)
    if export_manifests is not None:
        from multidc.plan.manifests import ManifestExportError, export_manifests as export

        try:
            written = export(graph, export_manifests)
        except ManifestExportError as error:
            print_error(errors, str(error))
            raise typer.Exit(2)
        errors.print(f"wrote {len(written)} manifest file(s) to {export_manifests}")
    if as_json:
        document = {"graph": graph.to_json(), "outputs": graph.outputs.get(OUTPUTS_KEY),
                    "assessment": assessment.to_json()}
        if report is not None:
            document["policies"] = report.to_json()
        json.dump(document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        console.print(plan_renderable(graph))
        if report is not None:
            from multidc.plan.render_policies import render_policy_report

            render_policy_report(report, console)
        console.print(assessment.renderable())
        from multidc.dr.render import figures_table

        console.print(figures_table(stack, assessment.figures))
        from multidc.monitoring.rules import rule_groups
        from multidc.plan.render_operations import operations_renderable

        console.print(operations_renderable(rule_groups(platform), assessment.to_json()["capacity"]))
    if report is not None and not report.ok:
        raise typer.Exit(1)


@app.callback()
def main(project_dir: Optional[Path] = typer.Option(
        None, "--project-dir", envvar=project.PROJECT_DIR_ENV,
        help="the project folder (holding Pulumi.yaml and stacks/); default: found from the working directory up")) -> None:
    """One typed spec, a whole platform across data centers: plan it, check it, recover it."""
    if project_dir is not None:
        os.environ[project.PROJECT_DIR_ENV] = str(project_dir.expanduser().resolve())
    try:
        project.root()
    except project.ProjectNotFound as error:
        errors.print(f"error: {error}", markup=False, highlight=False)
        raise typer.Exit(2)


def _register_areas() -> None:
    from multidc.dr.commands import register as register_dr
    from multidc.drill.commands import register as register_drill
    from multidc.local.commands import register as register_local
    from multidc.ops.commands import register as register_ops
    from multidc.protection.commands import register as register_protection

    register_dr(app)
    register_ops(app)
    register_local(app)
    register_drill(app)
    register_protection(app)


_register_areas()


if __name__ == "__main__":
    app()
