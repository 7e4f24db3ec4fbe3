"""`z2h prefs`: make preference pairs by rules (`build`) and add your own judgements (`label`) — chapter 10.

Like the rest of `z2h`, it only parses arguments and calls :mod:`zero2hero.alignment`; a problem the learner can fix
is printed on one line with a hint, exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from zero2hero.cli_output import console, err_console, fail
from zero2hero.errors import Zero2HeroError
from zero2hero.files import os_error

prefs_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="Preference pairs (chapter 10): build them by rules, or judge pairs yourself.")


@prefs_app.command("label")
def prefs_label(
    file: Annotated[Path, typer.Argument(help='JSON lines of {"prompt", "response_a", "response_b"}, or a preference '
                                         "file.")],
    out: Annotated[Path | None, typer.Option("--out", help="Where your judgements go (default: FILE with "
                                             ".labelled.jsonl); a second run resumes there.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the order the two responses are shown in.")] = 0,
) -> None:
    """Show a prompt and two responses, record the one you prefer: 1, 2, s (skip) or q (quit)."""
    from zero2hero.alignment.labelling import default_out, label_pairs

    target = out or default_out(file)
    try:
        summary = label_pairs(file, target, ask=input, show=lambda text: console.print(escape(text), highlight=False),
                              seed=seed)
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    except KeyboardInterrupt:
        err_console.print(f"[bold red]interrupted[/] — every judgement so far is saved in {escape(str(target))}; "
                          "run the same command again to go on", highlight=False)
        raise typer.Exit(130) from None
    console.print(f"judged {summary.judged}, skipped {summary.skipped}, left {summary.left} — "
                  f"saved in [bold]{escape(str(summary.out))}[/]", highlight=False)


@prefs_app.command("build")
def prefs_build(
    out: Annotated[Path, typer.Argument(help="The preference file to write (JSON lines).")],
    per_template: Annotated[int, typer.Option("--per-template", help="Instructions per template (20 templates).")
                            ] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the instructions and of the rules' choices.")] = 0,
) -> None:
    """Write preference pairs made by rules (correct vs wrong, asked format vs not, concise vs padded)."""
    from collections import Counter

    from zero2hero.alignment.instructions import build_instructions
    from zero2hero.alignment.preferences import build_pairs, save_pairs

    try:
        pairs = build_pairs(build_instructions(per_template=per_template, seed=seed), seed=seed)
        save_pairs(out, pairs)
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    rules = ", ".join(f"{rule} {count}" for rule, count in sorted(Counter(p.rule for p in pairs).items()))
    console.print(f"wrote {len(pairs)} pairs ({rules}) to [bold]{escape(str(out))}[/]", highlight=False)
