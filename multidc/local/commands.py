"""`multidc local up|down|kill|start`: a stack's data systems as real local processes."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from multidc import project
from multidc.console import print_error
from multidc.contract import OUTPUTS_KEY
from multidc.spec import SpecError, load_stack

from .deployment import LocalDeploymentError, down, kill_site, start_site, up
from .document import write_outputs
from .replicated import POSTGRES_MECHANISMS

local = typer.Typer(help="Run a stack's data systems as real local processes (what drills run against).",
                    no_args_is_help=True)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _fail(message: str) -> None:
    print_error(console, message)
    raise typer.Exit(2)


@local.command("up")
def up_command(
    stack: str = typer.Option(..., "--stack", "-s", help="stack name: stacks/Pulumi.<stack>.yaml"),
    outputs: Path = typer.Option(..., "--outputs", help="where to write the stack outputs document"),
    mode: Optional[str] = typer.Option(None, "--mode", help="sync or async for every PostgreSQL system "
                                       "(default: each its own replication mode)"),
    copy_interval: float = typer.Option(1.0, "--copy-interval", help="seconds between bucket copies"),
    postgres_mechanism: Optional[str] = typer.Option(
        None, "--postgres-mechanism", help="logical (what the stack deploys on Trove; the default) or "
        "physical-streaming (a self-managed deployment of the same stack on VMs)"),
    netns: bool = typer.Option(False, "--netns", help="run each site, and the witness, in its own network "
                               "namespace (root): the PostgreSQL systems on their site's address and an etcd "
                               "member per location, for `multidc drill --partition`"),
) -> None:
    """Start the stack's PostgreSQL servers, S3 endpoints and copy jobs; write its outputs document."""
    from multidc.plan.capture import plan

    if mode not in (None, "sync", "async"):
        _fail(f"--mode {mode}: use sync or async")
    if postgres_mechanism not in (None, *POSTGRES_MECHANISMS):
        _fail(f"--postgres-mechanism {postgres_mechanism}: use {' or '.join(POSTGRES_MECHANISMS)}")
    try:
        platform = load_stack(stack, project.root())
    except SpecError as error:
        _fail(str(error))
    with contextlib.redirect_stdout(sys.stderr):
        planned = plan(platform, stack).outputs[OUTPUTS_KEY]
    try:
        document = up(platform, planned, stack, mode=mode, copy_interval=copy_interval,
                      log=lambda line: console.print(line, markup=False, highlight=False),
                      postgres_mechanism=postgres_mechanism, netns=netns)
    except LocalDeploymentError as error:
        _fail(str(error))
    write_outputs(document, outputs)
    for name, why in document["not_realised"].items():
        console.print(f"not realised: {name}: {why}", markup=False, highlight=False)
    console.print(f"local deployment of {stack} is up; outputs in {outputs} "
                  f"(stop it with `multidc local down --stack {stack}`)", markup=False, highlight=False)


@local.command("down")
def down_command(stack: str = typer.Option(..., "--stack", "-s")) -> None:
    """Stop every process of the stack's local deployment and delete its data."""
    stopped = down(stack)
    console.print(f"stopped {len(stopped)} process(es) of {stack}" if stopped else
                  f"no local deployment of {stack} was up", markup=False, highlight=False)


@local.command("kill")
def kill_command(stack: str = typer.Option(..., "--stack", "-s"),
                 site: str = typer.Option(..., "--site", help="the site that burns")) -> None:
    """SIGKILL every local process of one site, as a fire would."""
    try:
        killed = kill_site(stack, site)
    except LocalDeploymentError as error:
        _fail(str(error))
    console.print("killed: " + ", ".join(killed), markup=False, highlight=False)


@local.command("start")
def start_command(stack: str = typer.Option(..., "--stack", "-s"),
                  site: str = typer.Option(..., "--site", help="the site that comes back")) -> None:
    """Bring a killed site back: servers restart from their data, the S3 endpoint comes back empty."""
    try:
        started = start_site(stack, site)
    except LocalDeploymentError as error:
        _fail(str(error))
    console.print("started: " + ", ".join(started), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(local, name="local")
