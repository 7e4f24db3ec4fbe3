"""`z2h serve WORKSPACE` and `z2h project batch`: the review desk of a pipeline workspace, served or run on a file.

Typer command bodies; ``cli.py`` registers them (``app.command("serve")(serve)``, and ``batch`` under ``project``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zero2hero.cli_output import fail
from zero2hero.errors import Zero2HeroError

WorkspaceArgument = Annotated[Path, typer.Argument(help="A `z2h project run` workspace (it holds bundle/serve.json).")]


def serve(
    workspace: WorkspaceArgument,
    backend: Annotated[str | None, typer.Option(help="llamacpp (the GGUF file) or transformers (the merged "
                                                "folder); default: the bundle's.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it to this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the review desk of WORKSPACE: a page to paste a review into, and its HTTP API."""
    import uvicorn

    from zero2hero.app.desk import load_desk
    from zero2hero.app.server import create_app

    try:
        desk = load_desk(workspace, backend)
    except Zero2HeroError as error:
        fail(error)
    for note in desk.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"review desk {desk.name} ({desk.generator.backend}) on http://{host}:{port} — Ctrl-C stops it")
    uvicorn.run(create_app(desk, desk.limits), host=host, port=port, log_level="warning")


def project_batch(
    workspace: WorkspaceArgument,
    file: Annotated[Path, typer.Argument(help="Reviews: a CSV with a text column, or JSON Lines with a \"text\" key.")],
    out: Annotated[Path, typer.Option("--out", help="The JSON Lines file of results to write.")] = Path(
        "classified.jsonl"),
) -> None:
    """Classify every review of FILE with WORKSPACE's classifiers, on all cores, into a JSON Lines file."""
    from zero2hero.app.batch import classify_file
    from zero2hero.app.desk import load_desk

    try:
        count = classify_file(load_desk(workspace, "transformers"), file, out)
    except Zero2HeroError as error:
        fail(error)
    typer.echo(f"{count} review(s) classified into {out}")
