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
    Console(stderr=True).print(f"[red]error:[/red] {message}")
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
    app.command("drill")(drill_command)
