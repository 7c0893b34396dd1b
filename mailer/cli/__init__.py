"""The ``mailer`` command line (Typer): one sub-module per command group."""

from mailer.cli.main import app, main

__all__ = ["app", "main"]
