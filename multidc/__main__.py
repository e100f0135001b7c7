"""`python -m multidc` is the `multidc` command."""

from multidc.cli import app

app()
