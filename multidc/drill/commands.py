"""`multidc drill`: rehearse the failover runbook with the production commands on a local deployment."""

from __future__ import annotations

import json
import signal
import sys
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from multidc import project
from multidc.console import print_error
from multidc.spec import SpecError, load_stack

from .partition import PartitionNotPermitted, render as render_partition, run_partition
from .report import DrillError
from .ransomware import render as render_ransomware, run_ransomware
from .site_loss import run_drill

SCENARIOS = ("site-loss", "ransomware")

console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True)


def drill_command(
    stack: str = typer.Option(..., "--stack", "-s"),
    as_json: bool = typer.Option(False, "--json"),
    mode: Optional[str] = typer.Option(None, "--mode", help="sync or async for every system (default: each its own)"),
    trigger: str = typer.Option("declared", "--trigger", help="declared, or automatic (`multidc watch` per site on "
                                 "etcd: the standby's fails over by itself)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed of the random kill moment"),
    no_failback: bool = typer.Option(False, "--no-failback"),
    ttl: int = typer.Option(3, "--ttl", help="automatic and --partition: the etcd lease TTL of the `multidc watch` "
                                             "processes"),
    scenario: str = typer.Option("site-loss", "--scenario", help="site-loss, or ransomware (encrypt, then "
                                 "restore to before T from the locked archive)"),
    partition: bool = typer.Option(False, "--partition", help="cut links between the sites and the witness "
                                   "for real (network namespaces, root): primary isolated, sites cut, witness lost"),
) -> None:
    """Kill the primary site of a local deployment with SIGKILL, run the production failover and failback
    commands, measure RTO and RPO per system. With --scenario ransomware: encrypt the data through the
    normal credentials and restore it to before the attack with `multidc restore`."""
    try:
        platform = load_stack(stack, project.root())
    except SpecError as error:
        print_error(errors, str(error))
        raise typer.Exit(2)
    log = (lambda m: None) if as_json else (lambda m: console.print(f"[dim]{escape(m)}[/dim]"))
    if partition:
        _partition(platform, stack, as_json, ttl, log)
    if scenario not in SCENARIOS:
        errors.print(f"error: --scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}", markup=False)
        raise typer.Exit(2)
    if scenario == "ransomware":
        try:
            report = run_ransomware(platform, stack, log=log)
        except DrillError as error:
            errors.print(f"error: {error}", markup=False, highlight=False)
            raise typer.Exit(2)
        print(json.dumps(report, indent=2) if as_json else render_ransomware(report))
        raise typer.Exit(0 if report["ok"] else 1)
    try:
        result = run_drill(platform, stack, mode=mode, trigger=trigger, seed=seed, failback=not no_failback,
                           lease_ttl=ttl, log=log)
    except DrillError as error:
        print_error(errors, str(error))
        raise typer.Exit(2)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        console.print(result)
        for line in result.confirmed_by_drill:
            console.print(f"[dim]• {escape(line)}[/dim]")


def _partition(platform: object, stack: str, as_json: bool, ttl: int, log: object) -> None:
    """Run the partition drill; exit 0 when every case held, 1 when one did not, 2 when it could not run."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # A TERM (CI cancelling, `timeout`) ends the drill through its cleanup, like Ctrl-C.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        report = run_partition(platform, stack, ttl=ttl, log=log)
    except PartitionNotPermitted as error:
        print_error(errors, str(error))
        raise typer.Exit(2)
    except DrillError as error:
        print_error(errors, str(error))
        raise typer.Exit(2)
    print(json.dumps(report, indent=2) if as_json else render_partition(report))
    raise typer.Exit(0 if report["ok"] else 1)


def register(app: typer.Typer) -> None:
    app.command("drill")(drill_command)
