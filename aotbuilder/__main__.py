"""`python -m aotbuilder` is the `aotbuilder` command."""

from aotbuilder.cli import app

app(prog_name="aotbuilder")
