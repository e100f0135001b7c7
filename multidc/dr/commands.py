"""The DR commands: assess and runbook. `register(app)` adds them to `multidc`."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console

from multidc import project
from multidc.console import print_error
from multidc.spec import Platform, SpecError, load_stack

from .assessment import Assessment, assess
from .render import stack_markdown, write_stack
from .runbook import all_runbooks

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
        from .render import figures_table

        console.print(result)
        console.print(figures_table(stack, result.figures))


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


def register(app: typer.Typer) -> None:
    """Add the DR commands to the `multidc` app."""
    app.command("assess")(assess_command)
    app.command("runbook")(runbook_command)
