"""The data protection commands: `multidc restore`. `register(app)` adds them to `multidc`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from multidc.spec import Platform, SpecError, load_stack, parse_duration

ROOT = Path(__file__).resolve().parents[2]
errors = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    errors.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def parse_before(value: str, now: Optional[dt.datetime] = None) -> dt.datetime:
    """TIME as ISO 8601 with a zone (2026-11-27T08:00:00Z) or a duration ago (2h, 30m, 1d)."""
    try:
        return dt.datetime.now(dt.timezone.utc) - parse_duration(value) if now is None else now - parse_duration(value)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"--before {value!r} is not a time: give ISO 8601 with a zone (2026-11-27T08:00:00Z) "
            "or a duration ago (30m, 2h, 1d)")
    return moment.astimezone(dt.timezone.utc)


def register(app: typer.Typer) -> None:
    """Add `restore` to the `multidc` command."""

    @app.command()
    def restore(
        stack: str = typer.Option(..., "--stack", "-s", help="stack name: stacks/Pulumi.<stack>.yaml"),
        system: str = typer.Option(..., "--system", help="the system whose data to restore"),
        before: str = typer.Option(..., "--before", help="restore the state before this time: ISO 8601 or 2h (ago)"),
        site: str = typer.Option(..., "--site", help="the site whose copy is restored"),
    ) -> None:
        """Put a system's data back the way it was before TIME (the ransomware path). Not finished yet."""
        try:
            parse_before(before)
        except ValueError as error:
            _fail(str(error))
        try:
            load_stack(stack, ROOT)
        except SpecError as error:
            _fail(str(error))
        _fail("restore is being built; nothing was changed", 1)
