"""Printing errors that carry user text: never through rich markup."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def print_error(console: Console, message: str) -> None:
    """Print ``error: <message>`` with the label in red and the message exactly as given.

    Messages carry user input (names and values from a stack file, paths, regexes). Rich
    markup would swallow anything in square brackets (``[a-z0-9-]``, ``[bold]``) and raise
    on a stray closing tag (``[/x]``), so the message is a plain Text, never parsed.
    ``soft_wrap`` keeps each problem on one line when stderr is a log, not a terminal.
    """
    console.print(Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True)
