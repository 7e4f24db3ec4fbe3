"""Where `z2h`'s sub-commands print: a console for tables (200 columns when not a terminal, so piped output keeps
its rows whole) and one error line with its hint, exit code 1."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from zero2hero.errors import Zero2HeroError

console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
err_console = Console(stderr=True, soft_wrap=True)  # errors stay on one line


def fail(error: Zero2HeroError) -> NoReturn:
    """Print ``error`` (message — hint) on one line of stderr and exit with code 1."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(1)
