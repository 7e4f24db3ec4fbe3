"""`z2h project`: run the chapter 9 pipeline (DVC), see which stages are stale, explain how two runs differ.

Like the rest of `z2h`, it only parses arguments and calls :mod:`zero2hero.pipeline`; a problem the learner can fix
is printed on one line with a hint, exit code 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from zero2hero.cli_output import console, err_console, fail
from zero2hero.errors import InputError, Zero2HeroError
from zero2hero.files import os_error

project_app = typer.Typer(no_args_is_help=True, add_completion=False,
                          help="The chapter 9 project: a reproducible pipeline (DVC) from raw reviews to a served app.")


@project_app.command("run")
def project_run(
    config: Annotated[Path | None, typer.Argument(help="The project's YAML config (default: the shipped review "
                                                  "desk).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Apply the config's quick: block (about two "
                                        "minutes).")] = False,
    workspace: Annotated[Path | None, typer.Option("--workspace", help="The run's folder, a DVC project (default: "
                                                   "runs/project/<name>[-quick]).")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override one setting: section.key=value "
                                                        "(repeatable).")] = None,
) -> None:
    """Run the pipeline: DVC reruns only the stages whose inputs, parameters or code changed."""
    from zero2hero.pipeline.config import load_config
    from zero2hero.pipeline.driver import run_project
    from zero2hero.pipeline.workspace import default_workspace

    try:
        settings = load_config(config, quick=quick, overrides=overrides or [])
        run = run_project(settings, workspace or default_workspace(settings),
                          progress=lambda line: console.print(escape(line), highlight=False))
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/] — run the same command again: finished stages are kept and "
                          "training resumes from its checkpoint", highlight=False)
        raise typer.Exit(130) from None
    table = Table(title=f"{settings.name}: {run.seconds:.1f} s", title_justify="left")
    for column in ("stage", "seconds", "status"):
        table.add_column(column)
    for row in run.rows:
        table.add_row(row.stage, f"{row.seconds:.1f}" if row.status == "ran" else "—", row.status)
    console.print(table)
    for name in ("sentiment_accuracy", "topic_accuracy", "reply_token_f1"):
        if name in run.metrics:
            baseline = run.metrics.get(f"{name}_prompting")
            versus = f" (prompting alone {baseline:.3f})" if isinstance(baseline, float) else ""
            console.print(f"{name}: {run.metrics[name]:.3f}{versus}", highlight=False)
    console.print(f"manifest: [bold]{escape(str(run.manifest))}[/]", highlight=False)
    console.print("cards: " + ", ".join(escape(str(card)) for card in run.cards), highlight=False)
    console.print(f"serve it: z2h serve {escape(str(run.workspace))}", highlight=False)


@project_app.command("status")
def project_status(
    workspace: Annotated[Path, typer.Argument(help="A workspace of `z2h project run`.")] = Path("runs/project/"
                                                                                               "review-desk"),
) -> None:
    """Which stages are stale (`dvc status`): what the next run would rerun, and why (code changes included)."""
    from zero2hero.pipeline.workspace import dvc_environment, refresh_code

    try:
        if not (workspace / "dvc.yaml").is_file():
            raise InputError(f"{workspace} is not a pipeline workspace (no dvc.yaml)",
                             "pass the folder of a `z2h project run`, e.g. runs/project/review-desk-quick")
        refresh_code(workspace)
        done = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=workspace, env=dvc_environment(),
                              capture_output=True, text=True, check=False)
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        fail(Zero2HeroError(f"dvc status failed: {last[0]}", f"run `python -m dvc status` in {workspace}"))
    console.print(escape(done.stdout.rstrip() or "every stage is up to date"), highlight=False)


@project_app.command("diff")
def project_diff(
    manifest_a: Annotated[Path, typer.Argument(help="The manifest.json of one run.")],
    manifest_b: Annotated[Path, typer.Argument(help="The manifest.json of another.")],
) -> None:
    """Explain why two runs differ: every changed config value, hash, version and metric (times ignored)."""
    from zero2hero.pipeline.manifest_diff import diff_manifests, explain

    try:
        before, after = (_read_manifest(path) for path in (manifest_a, manifest_b))
    except Zero2HeroError as error:
        fail(error)
    lines = explain(diff_manifests(before, after))
    console.print(escape("\n".join(lines) if lines else "the two runs do not differ (times aside)"), highlight=False)


def _read_manifest(path: Path) -> dict:
    if path.is_dir():
        path = path / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise os_error(error) from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not JSON: {error}", "pass the manifest.json of a `z2h project run`") from None
    if not isinstance(manifest, dict) or "config" not in manifest:
        raise InputError(f"{path} is not a run manifest", "pass the manifest.json of a `z2h project run`")
    return manifest
