"""Errors carry user text; printing them must neither swallow nor choke on square brackets."""

from __future__ import annotations

import io

from rich.console import Console

from multidc.console import print_error


def test_user_text_with_markup_and_regex_is_printed_verbatim_on_one_line():
    out = io.StringIO()
    message = ("systems.x[/x].name: 'a[bold]b' does not match ^[a-z][a-z0-9-]{0,38}[a-z0-9]$ and [red]this[/red] "
               "is longer than the forty columns of this console")
    print_error(Console(file=out, width=40, color_system=None), message)
    assert out.getvalue() == f"error: {message}\n"
