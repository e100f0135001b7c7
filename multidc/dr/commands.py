"""The DR commands: assess, runbook, failover, failback, drill. `register(app)` adds them to `multidc`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from multidc.console import print_error
from multidc.spec import Platform, SpecError, load_stack

from .assessment import Assessment, assess
from .backends import (DatabaseBackend, DnsBackend, PulumiBackend, RecordingBackend, StorageBackend)
from .drill import DrillError, run_drill
from .executor import Executor, StepFailed
from .journal import Journal, JournalError
from multidc import project

from .render import stack_markdown, write_stack
from .runbook import Runbook, RunbookError, RunbookKind, all_runbooks, build

console = Console()


def _fail(message: str) -> None:
    print_error(Console(stderr=True), message)
    raise typer.Exit(2)


def _load(stack: str) -> Platform:
    try:
        return load_stack(stack, project.root())
    except SpecError as error:
        _fail(str(error))


def planned_graph(platform: Platform, stack: str):
    """The planned resource graph of a stack (the offline plan)."""
    from multidc.plan.capture import plan

    return plan(platform, stack)


def stack_names() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project.stacks_dir().glob("Pulumi.*.yaml"))


# --- assess, runbook ---------------------------------------------------------------------------

def assess_stack(stack: str) -> Assessment:
    platform = _load(stack)
    return assess(platform, planned_graph(platform, stack))


def runbook_text(stack: str) -> str:
    """The generated docs/runbooks/<stack>.md text of a stack."""
    platform = _load(stack)
    graph = planned_graph(platform, stack)
    return stack_markdown(stack, assess(platform, graph), all_runbooks(platform, graph))


def assess_command(stack: str = typer.Option(..., "--stack", help="stack name (stacks/Pulumi.<stack>.yaml)"),
                   as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """How each system survives fire, earthquake, hardware failure, ransomware and partition."""
    result = assess_stack(stack)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        console.print(result)


def runbook_command(stack: Optional[str] = typer.Option(None, "--stack", help="one stack; default: every stack"),
                    check: bool = typer.Option(False, "--check", help="exit 1 if a committed runbook is stale")) -> None:
    """Generate docs/runbooks/<stack>.md (every stack without --stack)."""
    stale = []
    for name in [stack] if stack else stack_names():
        text = runbook_text(name)
        path = project.runbooks_dir() / f"{name}.md"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        console.print(f"wrote {write_stack(name, text)}")
    if stale:
        Console(stderr=True).print("stale: " + ", ".join(stale) + "; run `multidc runbook` and commit the result")
        raise typer.Exit(1)


# --- failover, failback ------------------------------------------------------------------------

def _targets(path: Optional[Path]) -> dict[str, Any]:
    """Where the live servers are: {databases: {system: {site: {host, port, user, password_env}}},
    buckets: {system: {site: {endpoint, bucket, access_key_env, secret_key_env}}},
    addresses: {system: {site: address}}}. Passwords and keys come from environment variables."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        _fail(f"--targets {path}: {error}")
    return data


def production_backends(platform: Platform, targets: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
    """Backends for a real run: real where targets and client libraries are there, record mode otherwise."""
    from multidc.protection import postgres as pg
    from multidc.protection.rclone import S3Location

    no_targets = RecordingBackend("no --targets entry: where this system runs is not known")
    servers = {(system, site): pg.PgEndpoint(host=t["host"], port=int(t["port"]), user=t.get("user", "postgres"),
                                             password=os.environ.get(t.get("password_env", ""), None))
               for system, sites in (targets.get("databases") or {}).items() for site, t in sites.items()}
    buckets = {(system, site): S3Location(endpoint=t["endpoint"], bucket=t["bucket"],
                                          access_key=os.environ.get(t.get("access_key_env", "")),
                                          secret_key=os.environ.get(t.get("secret_key_env", "")))
               for system, sites in (targets.get("buckets") or {}).items() for site, t in sites.items()}
    addresses = {(system, site): address for system, sites in (targets.get("addresses") or {}).items()
                 for site, address in sites.items()}
    auth = pg.ReplicationAuth(password=os.environ.get("MULTIDC_REPLICATION_PASSWORD", ""))
    names = {site.name: pg.slot_name(site.name) for site in platform.sites}
    try:
        import openstack

        dns: Any = DnsBackend(lambda site: openstack.connect(cloud=platform.site(site).cloud.profile or site),
                              addresses, fallback=RecordingBackend("no --targets address for this record"))
    except ImportError:
        dns = RecordingBackend("openstacksdk is not installed (pip install openstacksdk)")
    return {
        "db": DatabaseBackend(servers, auth, names, fallback=no_targets),
        "storage": StorageBackend(buckets, fallback=no_targets),
        "dns": dns,
        "k8s": RecordingBackend("the Kubernetes backend needs a kubeconfig per site; scale by hand or with pulumi up"),
        "pulumi": PulumiBackend(platform, project.root(), plan=planned_graph, write=not dry_run),
        "decide": RecordingBackend("declared by the operator on the command line"),
        "manual": RecordingBackend("ask the provider; confirm in writing"),
        "restore": RecordingBackend("run multidc.protection restore for this system"),
        "net": RecordingBackend("test networks are created by pulumi up of a test stack"),
    }


def _show(book: Runbook) -> None:
    table = Table(title=f"{book.kind.value} of {book.stack}: {book.from_site} → {book.to_site}")
    for column in ("group", "step", "action", "owner"):
        table.add_column(column)
    for number, group in enumerate(book.groups, 1):
        for step in group.steps:
            table.add_row(f"{number}. {group.title}", step.title, step.action, step.owner)
    console.print(table)
    for note in book.notes:
        console.print(f"• {note}")


def _execute(stack: str, kind: RunbookKind, to: str, from_site: Optional[str], yes: bool, dry_run: bool,
             journal: Optional[Path], targets: Optional[Path]) -> None:
    platform = _load(stack)
    try:
        book = build(platform, planned_graph(platform, stack), kind, to, from_site)
    except RunbookError as error:
        _fail(str(error))
    _show(book)
    if dry_run:
        console.print("dry run: nothing was changed")
        return
    if not yes:
        question = (f"{book.kind.value}: stack {stack}, from {book.from_site} to {book.to_site}; "
                    f"{sum(1 for _ in book.steps())} steps. Proceed?")
        if not sys.stdin.isatty() or not typer.confirm(question, default=False):
            _fail("not confirmed; nothing was changed (pass --yes to run without asking)")
    path = journal or project.state_dir() / "journal" / f"{stack}-{book.kind.value}-{book.to_site}.jsonl"
    try:
        executor = Executor(book, production_backends(platform, _targets(targets), dry_run=False),
                            Journal(path, book.fingerprint, f"{book.kind.value} {stack} to {book.to_site}"),
                            on_step=lambda step, result: console.print(f"[green]done[/green] {step.id}: {result.detail}"))
        executor.run()
    except (JournalError, StepFailed) as error:
        _fail(str(error))
    console.print(f"{book.kind.value} finished; journal {path}")


def failover_command(
    stack: str = typer.Option(..., "--stack"),
    to: str = typer.Option(..., "--to", help="the site that takes over"),
    from_site: Optional[str] = typer.Option(None, "--from", help="the site that is lost (default: the primary)"),
    planned: bool = typer.Option(False, "--planned", help="planned switchover (both sites up, zero loss)"),
    test: bool = typer.Option(False, "--test", help="test failover into an isolated network"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the plan, change nothing"),
    journal: Optional[Path] = typer.Option(None, "--journal", help="journal file (resume: pass the same one)"),
    targets: Optional[Path] = typer.Option(None, "--targets", help="YAML: where each system's servers are"),
) -> None:
    """Fail over a stack to another site: fence, promote, scale, re-point, flip the code."""
    kind = RunbookKind.test if test else RunbookKind.planned if planned else RunbookKind.unplanned
    _execute(stack, kind, to, from_site, yes, dry_run, journal, targets)


def failback_command(
    stack: str = typer.Option(..., "--stack"),
    to: str = typer.Option(..., "--to", help="the original primary site, back again"),
    from_site: Optional[str] = typer.Option(None, "--from", help="the site that took over"),
    yes: bool = typer.Option(False, "--yes"),
    dry_run: bool = typer.Option(False, "--dry-run"),
    journal: Optional[Path] = typer.Option(None, "--journal"),
    targets: Optional[Path] = typer.Option(None, "--targets"),
) -> None:
    """Re-protect the original primary (pg_rewind) and switch back to it with zero loss."""
    _execute(stack, RunbookKind.failback, to, from_site, yes, dry_run, journal, targets)


def drill_command(
    stack: str = typer.Option(..., "--stack"),
    as_json: bool = typer.Option(False, "--json"),
    mode: Optional[str] = typer.Option(None, "--mode", help="sync or async for every system (default: each its own)"),
    trigger: str = typer.Option("declared", "--trigger", help="declared or automatic (watcher + witness)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed of the random kill moment"),
    no_failback: bool = typer.Option(False, "--no-failback"),
    heartbeat: float = typer.Option(0.2, "--heartbeat", help="seconds between the watcher's heartbeats"),
    missed: int = typer.Option(3, "--missed", help="missed heartbeats before the primary is declared lost"),
) -> None:
    """Kill the primary site's local services with SIGKILL, fail over, measure RTO and RPO per system, fail back."""
    platform = _load(stack)
    try:
        result = run_drill(platform, planned_graph(platform, stack), mode=mode, trigger=trigger, seed=seed,
                           failback=not no_failback, heartbeat_interval=heartbeat, missed_heartbeats=missed,
                           log=(lambda m: None) if as_json else (lambda m: console.print(f"[dim]{m}[/dim]")))
    except DrillError as error:
        _fail(str(error))
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        console.print(result)
        for line in result.recorded_only:
            console.print(f"[dim]• {line}[/dim]")


def register(app: typer.Typer) -> None:
    """Add the DR commands to the `multidc` app."""
    app.command("assess")(assess_command)
    app.command("runbook")(runbook_command)
    app.command("failover")(failover_command)
    app.command("failback")(failback_command)
    app.command("drill")(drill_command)
