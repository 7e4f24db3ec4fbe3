"""`z2h`: the command line of zero2hero. It parses arguments and calls labs and packages; nothing else.

Errors a learner can fix (:class:`Zero2HeroError`) are printed on one line with a hint, exit code 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from zero2hero.cli_output import console, err_console, fail
from zero2hero.cli_prefs import prefs_app
from zero2hero.cli_project import project_app
from zero2hero.cli_serve import project_batch, serve
from zero2hero.errors import InputError, UnknownNameError, Zero2HeroError
from zero2hero.files import os_error

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                  help="zero2hero — LLM zero to hero: labs, exercise checks and benchmarks, on your CPU.")

OutOption = Annotated[Path, typer.Option("--out", help="Folder that receives run directories.")]


def _print_table(title: str, columns: list[str], rows: list[list[object]]) -> None:
    table = RichTable(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


@app.command("list")
def list_chapters() -> None:
    """The chapters, what each has (lesson, lab, exercises) and your exercise status."""
    from zero2hero.chapters import CHAPTERS
    from zero2hero.checks.status import exercise_status
    from zero2hero.labs import available_labs

    labs = available_labs()
    rows = []
    for ch in CHAPTERS:
        folder = _course_folder(ch.number)
        lesson, exercises = (_mark(folder is not None and (folder / name).exists())
                             for name in ("lesson.md", "exercises.py"))
        rows.append([ch.number, ch.title, lesson, _mark(ch.number in labs), exercises,
                     exercise_status(ch.number) if folder else ""])
    _print_table("zero2hero chapters", ["#", "chapter", "lesson", "lab", "exercises", "your checks"], rows)


def _mark(present: bool) -> str:
    return "✓" if present else "·"


def _course_folder(number: int) -> Path | None:
    from zero2hero.checks import chapter_folder

    try:
        return chapter_folder(number)
    except Zero2HeroError:
        return None


def _progress_printer(prefix: str = ""):
    def show(message: str) -> None:
        console.print(f"[dim]{prefix}›[/] {message}", highlight=False)
    return show


@app.command()
def lab(
    chapter: Annotated[int, typer.Argument(help="Chapter number.")],
    full: Annotated[bool, typer.Option("--full", help="Run the experiment at its real size (slower).")] = False,
    text: Annotated[Path | None, typer.Option("--text", help="Lab 1: a UTF-8 text file, not the article.")] = None,
    prompts: Annotated[Path | None, typer.Option("--prompts", help="Lab 3: a text file, one prompt per line.")] = None,
    out: OutOption = Path("runs"),
) -> None:
    """Run chapter N's lab and write its report, metrics, figures and config into a run directory."""
    from zero2hero.labs import get_lab
    from zero2hero.labs.runner import make_config, run_lab
    from zero2hero.text.io import read_lines_file

    try:
        info = get_lab(chapter)
        overrides = {"text_file": text, "prompts": read_lines_file(prompts) if prompts else None}
        config = make_config(info, quick=not full, overrides=overrides,
                             option_names={"text_file": "--text", "prompts": "--prompts"})
        run = run_lab(info, config, out, _progress_printer())
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:  # a full disk or a folder that became read-only while the lab ran
        fail(os_error(error))
    _show_metrics(run.result)
    console.print(f"\n[bold green]done[/] in {run.seconds:.1f} s — report: [bold]{run.folder / 'report.md'}[/]")


def _show_metrics(result) -> None:
    _print_table(result.title, ["metric", "value", "unit"], [[m.name, m.value, m.unit] for m in result.metrics])


@app.command()
def tour(out: OutOption = Path("runs")) -> None:
    """Every available lab in quick mode, on the offline defaults, into one combined report."""
    from zero2hero.labs.runner import run_tour

    try:
        folder, runs = run_tour(out, _progress_printer())
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    _print_table("tour", ["chapter", "lab", "seconds", "report"],
                 [[r.chapter, r.result.title, r.seconds, str(r.folder / "report.md")] for r in runs])
    console.print(f"\n[bold green]tour done[/] — combined report: [bold]{folder / 'report.md'}[/]")


@app.command()
def check(
    chapter: Annotated[int, typer.Argument(help="Chapter number.")],
    solution: Annotated[bool, typer.Option("--solution", help="Check the reference implementation instead.")] = False,
    file: Annotated[Path | None, typer.Option("--file", help="Your exercises.py (default: the course's).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds one check may take before it fails.")] = 60.0,
) -> None:
    """Run chapter N's exercise checks against your course/NN-*/exercises.py."""
    from zero2hero.checks import stub_path
    from zero2hero.checks.runner import run_checks
    from zero2hero.checks.status import record_status

    try:
        target = "solution" if solution else (file or stub_path(chapter))
        if isinstance(target, Path) and not target.is_file():
            raise Zero2HeroError(f"{target} is not a file", "pass your exercises.py with --file")
        if timeout <= 0:
            raise Zero2HeroError(f"--timeout must be positive, got {timeout:g}", "give the seconds one check may take")
        # Only a check of the course's own exercises.py is what `z2h list` shows as the chapter's status.
        own_file = isinstance(target, Path) and target.resolve() == stub_path(chapter).resolve()
        console.print(f"[dim]checking[/] {'the reference implementation' if solution else escape(str(target))} "
                      f"[dim]— chapter {chapter}, at most {timeout:g} s per check[/]", highlight=False)
        outcomes = run_checks(chapter, target, timeout, _show_outcome)
    except Zero2HeroError as error:
        fail(error)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/] — the checks did not finish, so nothing was recorded; "
                          f"run `z2h check {chapter}` again", highlight=False)
        raise typer.Exit(130) from None
    if not outcomes:
        fail(Zero2HeroError(f"no checks ran for chapter {chapter}", "nothing was recorded; run `pytest "
                            f"tests/exercises/test_ch{chapter:02d}_exercises.py` to see why"))
    passed = sum(o.passed for o in outcomes)
    if own_file:
        record_status(chapter, passed, len(outcomes))
    colour = "green" if passed == len(outcomes) else "red"
    console.print(f"\n[bold {colour}]{passed}/{len(outcomes)} checks pass[/] for chapter {chapter}"
                  + (" (reference implementation)" if solution else ""))
    if passed != len(outcomes):
        raise typer.Exit(1)


def _show_outcome(outcome) -> None:  # a CheckOutcome; imported lazily
    """One check's result, printed as soon as the check finishes; a failure's message indented below it."""
    mark = "[green]✓[/]" if outcome.passed else "[red]✗[/]"
    label = outcome.name.removeprefix("test_").replace("_", " ")
    message = "" if outcome.passed else "\n" + textwrap.indent(escape(outcome.message), "     ")
    console.print(f" {mark} {label}[dim]{message}[/]", highlight=False)


@app.command()
def tokenize(
    text: Annotated[str, typer.Argument(help="The text to tokenize (or use --file).")] = "",
    file: Annotated[Path | None, typer.Option("--file", help="Read the text from a UTF-8 file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: tokenizer -> pieces and ids.")] = False,
) -> None:
    """How each tokenizer splits a text: words, characters, our BPE/WordPiece and Hugging Face's."""
    from zero2hero.tokenization.compare import tokenize_all

    try:
        if file is not None:
            from zero2hero.text import read_text_file

            text = read_text_file(file)
        if not text:
            raise Zero2HeroError("no text to tokenize", 'pass it as an argument (z2h tokenize "Hello") or with --file')
        results = tokenize_all(text)
    except Zero2HeroError as error:
        fail(error)
    if as_json:
        print(json.dumps({r.name: {"pieces": r.pieces, "ids": r.ids} for r in results}, ensure_ascii=False))
        return
    for r in results:
        # Spaces as "·" and newlines as "⏎", so that token boundaries are visible.
        shown = " | ".join(p.replace(" ", "·").replace("\n", "⏎") for p in r.pieces[:60])
        more = f" … (+{len(r.pieces) - 60})" if len(r.pieces) > 60 else ""
        console.print(f"[bold]{r.name}[/] — {len(r.ids)} tokens\n  {shown}{more}\n  [dim]ids: {r.ids[:30]}"
                      f"{' …' if len(r.ids) > 30 else ''}[/]", highlight=False)


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="The text to continue.")],
    model: Annotated[str | None, typer.Option(help="smollm2 (the default), a local folder or a hub name.")] = None,
    adapter: Annotated[Path | None, typer.Option("--adapter", help="A LoRA adapter folder to run, unmerged, on its "
                                                 "base model (or on --model).")] = None,
    engine: Annotated[str, typer.Option(help="ours (our loop / our GPT-2) or hf (model.generate).")] = "ours",
    chat: Annotated[bool, typer.Option("--chat", help="Wrap the prompt in the chat template.")] = False,
    max_new_tokens: Annotated[int, typer.Option(help="How many tokens to add.")] = 64,
    temperature: Annotated[float | None, typer.Option(help="Sample at this temperature (default: greedy).")] = None,
    top_k: Annotated[int | None, typer.Option(help="Sample among the k most likely tokens.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Sample from the nucleus of mass p.")] = None,
    repetition_penalty: Annotated[float, typer.Option(help="1.0 = none.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed for sampling.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: ids, text, tokens/s.")] = False,
) -> None:
    """Continue a prompt on the CPU, streaming tokens as they are produced."""
    from zero2hero.transformer.generate import SamplingConfig
    from zero2hero.transformer.text_generation import generate_text

    try:
        if (top_k is not None or top_p is not None) and temperature is None:
            temperature = 1.0
        cfg = SamplingConfig(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed=seed)
        on_text = None if as_json else (lambda t: print(t, end="", flush=True))
        load_model = None
        if adapter is not None:
            from zero2hero.lora.adapted_generation import adapter_loader

            model, load_model = adapter_loader(adapter, model)
        out = generate_text(prompt, model or "smollm2", engine, chat, cfg, on_text, load_model)
    except Zero2HeroError as error:
        fail(error)
    if as_json:
        print(out.to_json())
    else:
        console.print(f"\n[dim]{len(out.generated_ids)} tokens, {out.tokens_per_s} tokens/s ({out.engine})[/]")


@app.command()
def finetune(
    task: Annotated[str, typer.Option("--task", help="classification (a labelled file), or causal-lm (a plain text "
                                      "file: continue it in its style).")] = "classification",
    data: Annotated[Path | None, typer.Option("--data", help="Your labelled CSV, TSV or JSONL file (default: the "
                                              "fine-food reviews); with --task causal-lm, a UTF-8 text file, its last "
                                              "10% held out.")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="A test file with the same columns (default: the "
                                              "official test set, or a stratified 20% of --data).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column (or JSON field) holding the text (default: "
                                                    "text).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Column (or JSON field) holding the label (default: "
                                                     "label).")] = None,
    model: Annotated[str | None, typer.Option(help="minilm (classification) or smollm2 (causal-lm, the defaults), a "
                                              "local save_pretrained folder or a hub name.")] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training data.")] = 1,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (AdamW; default 5e-5, "
                                                        "1e-3 for causal-lm with --lora).")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples (causal-lm: windows) per optimizer step.")] = 16,
    max_length: Annotated[int, typer.Option(help="Tokens per text; longer texts are cut (causal-lm: tokens per "
                                            "window).")] = 128,
    validation_share: Annotated[float | None, typer.Option(help="Share of the training data held out for "
                                                           "validation (default 0.1).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (splits, new head, data order, dropout).")] = 0,
    resume: Annotated[Path | None, typer.Option("--resume", help="The .unfinished folder of an interrupted run: "
                                                "continue it (pass the same options).")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters and the new head, the rest frozen "
                                       "(model/ is then an adapter folder).")] = False,
    rank: Annotated[int | None, typer.Option("--rank", help="With --lora: the rank of each update "
                                             "(default 8).")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="With --lora: updates are scaled by alpha / rank "
                                                "(default 16).")] = None,
    targets: Annotated[str | None, typer.Option("--targets", help="With --lora: the linear layers to adapt, "
                                                "comma-separated, or all-linear (default query,value; causal-lm: "
                                                "q_proj,v_proj).")] = None,
    out: OutOption = Path("runs"),
) -> None:
    """Fine-tune a classifier (our training loop), or with --task causal-lm a language model on your text, and write
    a run folder with its report and model/."""
    from zero2hero.finetuning.run import FinetuneConfig
    from zero2hero.finetuning.run import finetune as run_finetune

    try:
        lora_options = {name: value for name, value in (("rank", rank), ("alpha", alpha), ("targets", targets))
                        if value is not None}
        if lora_options and not lora:
            raise Zero2HeroError("--rank, --alpha and --targets set up LoRA, but --lora is not given",
                                 "add --lora, or leave them out for a full fine-tune")
        if task not in FINETUNE_TASKS:
            raise UnknownNameError(f"unknown task {task!r}", f"choose one of {', '.join(FINETUNE_TASKS)}")
        if task == "causal-lm":
            classifier_only = {"--test": test, "--text-column": text_column, "--label-column": label_column,
                               "--validation-share": validation_share, "--resume": resume}
            given = [name for name, value in classifier_only.items() if value is not None]
            if given:
                raise InputError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --task "
                                 "classification only", "leave them out with --task causal-lm")
            _finetune_causal_lm(data, model, lora, lora_options, epochs, learning_rate, batch_size, max_length, seed,
                                out)
            return
        adaptation = None
        if lora:
            from zero2hero.lora.finetune_adaptation import LoRAAdaptation

            adaptation = LoRAAdaptation(**lora_options)
        given = {"text_column": text_column, "label_column": label_column, "model": model,
                 "learning_rate": learning_rate, "validation_share": validation_share}
        config = FinetuneConfig(data=data, test=test, epochs=epochs, batch_size=batch_size, max_length=max_length,
                                seed=seed, adaptation=adaptation,
                                **{name: value for name, value in given.items() if value is not None})
        run = run_finetune(config, out, resume, _progress_printer())
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/] — to continue, run the same command with --resume and the "
                          ".unfinished folder named above", highlight=False)
        raise typer.Exit(130) from None
    _show_metrics(run.result)
    console.print(f"\n[bold green]done[/] in {run.seconds:.1f} s — report: [bold]{run.folder / 'report.md'}[/], "
                  f"model: [bold]{run.folder / 'model'}[/]")


FINETUNE_TASKS = ("classification", "causal-lm")


def _finetune_causal_lm(data: Path | None, model: str | None, lora: bool, lora_options: dict, epochs: int,
                        learning_rate: float | None, batch_size: int, max_length: int, seed: int, out: Path) -> None:
    """``z2h finetune --task causal-lm``: errors go to the caller, which prints them as one line."""
    from zero2hero.lora.causal_lm_run import CausalLMConfig, finetune_causal_lm
    from zero2hero.lora.layer import LoRASettings

    if data is None:
        raise InputError("--task causal-lm needs your text file", "pass --data my.txt (UTF-8 text)")
    settings = {"lora": LoRASettings(lora_options.get("rank", 8), lora_options.get("alpha", 16.0))} if lora else {}
    if "targets" in lora_options:
        settings["targets"] = lora_options["targets"]
    config = CausalLMConfig(data=data, model=model or "smollm2", epochs=epochs, learning_rate=learning_rate,
                            batch_size=batch_size, max_length=max_length, seed=seed, **settings)
    run = finetune_causal_lm(config, out, _progress_printer())
    _show_metrics(run.result)
    console.print(f"\nheld-out perplexity {run.before_ppl:.2f} before, {run.after_ppl:.2f} after")
    console.print(f"[bold green]done[/] in {run.seconds:.1f} s — report: [bold]{run.folder / 'report.md'}[/], "
                  f"model: [bold]{run.folder / 'model'}[/]")


@app.command()
def classify(
    model_dir: Annotated[Path, typer.Argument(help="A `z2h finetune` run folder or its model/ folder (a model "
                                              "or a LoRA adapter).")],
    text: Annotated[str | None, typer.Argument(help="The text to classify (or use --file).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A UTF-8 file, one text per line.")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list: label, probability, all "
                                          "probabilities.")] = False,
) -> None:
    """Label texts with a fine-tuned classifier: the label and its probability, one line per text."""
    from zero2hero.finetuning.classify import classify as run_classify
    from zero2hero.finetuning.classify import load_classifier
    from zero2hero.lora.finetune_adaptation import adapter_folder, load_adapted_classifier
    from zero2hero.text.io import read_lines_file

    try:
        if (text is None) == (file is None):
            raise Zero2HeroError("pass one text or --file, not both and not neither",
                                 'e.g. z2h classify runs/<run> "Tasty and fresh"')
        texts = read_lines_file(file) if file is not None else [text]
        load = load_adapted_classifier if adapter_folder(model_dir) else load_classifier
        predictions = run_classify(model_dir, texts, batch_size, load=load)
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    if as_json:
        print(json.dumps([{"text": t, "label": p.label, "probability": p.probability,
                           "probabilities": p.probabilities} for t, p in zip(texts, predictions, strict=True)],
                         ensure_ascii=False))
        return
    for t, p in zip(texts, predictions, strict=True):
        print(f"{p.label}\t{p.probability:.3f}\t{t}")


lora_app = typer.Typer(no_args_is_help=True, help="LoRA adapters (chapter 6): merge one into its base model.")
app.add_typer(lora_app, name="lora")


@lora_app.command("merge")
def lora_merge(
    adapter_dir: Annotated[Path, typer.Argument(help="A LoRA adapter folder, e.g. a `z2h finetune --lora` run's "
                                                "model/.")],
    out: Annotated[Path, typer.Option("--out", help="The new folder for the merged model.")],
) -> None:
    """Fold an adapter into its base model: a plain model folder that from_pretrained and pipeline load."""
    from zero2hero.lora.merge_folder import merge_adapter_folder

    try:
        folder = merge_adapter_folder(adapter_dir, out)
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    console.print(f"[bold green]merged[/] — model: [bold]{folder}[/]")


prompt_app = typer.Typer(no_args_is_help=True, help="Prompting (chapter 8): run a prompt set under several conditions, "
                         "score a rubric, compare two runs.")
app.add_typer(prompt_app, name="prompt")

# Chapter 9: the pipeline (`z2h project run/status/diff/batch`) and the app it builds (`z2h serve`).
app.add_typer(project_app, name="project", help="The review desk's pipeline (chapter 9): run it with DVC, see what is "
              "stale, diff two runs' manifests, classify a file.")
project_app.command("batch")(project_batch)
app.command("serve")(serve)

# Chapter 10: preference pairs made by rules and judged by you (`z2h prefs build/label`).
app.add_typer(prefs_app, name="prefs", help="Preference pairs (chapter 10): build them by rules, or judge pairs "
              "yourself.")


@prompt_app.command("list")
def prompt_list() -> None:
    """The built-in prompt sets: kind, templates, items, description."""
    from zero2hero.prompting.promptset import builtin_prompt_sets, load_prompt_set

    rows = []
    try:
        for name in builtin_prompt_sets():
            ps = load_prompt_set(name)
            rows.append([name, ps.kind, ", ".join(ps.templates), len(ps.items), len(ps.pool), ps.description])
    except Zero2HeroError as error:
        fail(error)
    _print_table("built-in prompt sets", ["name", "kind", "templates", "items", "pool", "description"], rows)


@prompt_app.command("run")
def prompt_run(
    prompt_set: Annotated[str, typer.Argument(help="A built-in set (z2h prompt list) or your YAML / JSONL file.")],
    model: Annotated[str, typer.Option(help="smollm2 (the default), a model folder, or a GGUF file (ours, "
                                       "llamacpp).")] = "smollm2",
    engine: Annotated[str, typer.Option(help="hf (transformers), ours (chapter 7's LLaMA) or llamacpp.")] = "hf",
    template: Annotated[list[str] | None, typer.Option("--template", help="A template of the set; repeat it to "
                                                       "compare several (default: the set's first).")] = None,
    shots: Annotated[list[int] | None, typer.Option("--shots", help="Few-shot examples per prompt; repeat it to "
                                                    "compare, e.g. --shots 0 --shots 4.")] = None,
    strategy: Annotated[str, typer.Option(help="How shots are chosen: random, balanced or nearest.")] = "random",
    cot: Annotated[bool, typer.Option("--cot", help="Ask for step-by-step reasoning before the answer.")] = False,
    samples: Annotated[int, typer.Option(help="Self-consistency: sample this many chains and take the majority "
                                         "answer (needs --temperature).")] = 1,
    scoring: Annotated[str, typer.Option(help="generate (read the written answer) or logprob (the most likely "
                                         "label word; label sets).")] = "generate",
    calibrate: Annotated[bool, typer.Option("--calibrate", help="With --scoring logprob: contextual "
                                            "calibration.")] = False,
    temperature: Annotated[float, typer.Option(help="0 = greedy.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the shot choice and of sampling.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    split: Annotated[str | None, typer.Option(help="A generated set's split, e.g. dev or test (sentiment).")] = None,
    out: OutOption = Path("runs"),
) -> None:
    """Ask a prompt set's items under each condition and write a run folder: report.md/html, rubric.csv, records."""
    from rich.progress import Progress

    from zero2hero.prompting.run import PromptRunConfig, run_prompt_set

    config = PromptRunConfig(prompt_set, model, engine, template or [], shots or [], strategy, cot, samples, scoring,
                             calibrate, temperature, seed, limit, split)
    try:
        with Progress(console=console, transient=True) as bar:
            def on_condition(index: int, condition, n_items: int):
                task = bar.add_task(f"{index + 1}. {condition.name}", total=n_items)
                return lambda record: bar.advance(task)

            folder, results = run_prompt_set(config, out, on_condition)
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    from zero2hero.prompting.report import comparisons, metrics_table

    table = metrics_table(results)
    _print_table(f"prompt set {prompt_set} — {model} on {engine}", table.columns, table.rows)
    for name, comparison in comparisons(results):
        console.print(f"[dim]•[/] {escape(name)}: {escape(comparison.verdict)}", highlight=False)
    console.print(f"\n[bold green]done[/] — report: [bold]{folder / 'report.md'}[/] (and report.html, rubric.csv)")


@prompt_app.command("score")
def prompt_score(
    run: Annotated[Path, typer.Argument(help="A `z2h prompt run` folder.")],
    rubric: Annotated[Path, typer.Option("--rubric", help="Its rubric.csv with the 1-5 scores filled in.")],
) -> None:
    """Per-condition means of a filled rubric, with intervals, written into the run folder (rubric.md/json)."""
    from zero2hero.prompting.rubric import score_rubric

    try:
        table = score_rubric(run, rubric)
    except Zero2HeroError as error:
        fail(error)
    except OSError as error:
        fail(os_error(error))
    _print_table(table.title, table.columns, table.rows)
    console.print(f"[bold green]written[/] — [bold]{run / 'rubric.md'}[/]")


@prompt_app.command("compare")
def prompt_compare(
    run_a: Annotated[Path, typer.Argument(help="The first `z2h prompt run` folder (A).")],
    run_b: Annotated[Path, typer.Argument(help="The second (B), on the same prompt set.")],
) -> None:
    """B's accuracy against A's, paired over the items both answered: intervals, difference, p-value, verdict."""
    from zero2hero.prompting.compare import compare_runs
    from zero2hero.prompting.report import interval_text

    try:
        result = compare_runs(run_a, run_b)
    except Zero2HeroError as error:
        fail(error)
    c = result.comparison
    _print_table(f"{result.items} common items", ["run", "condition", "accuracy [95% CI]"],
                 [["A", result.condition_a, interval_text(c.a)], ["B", result.condition_b, interval_text(c.b)],
                  ["B − A", "", interval_text(c.difference)]])
    console.print(escape(c.verdict), highlight=False)


@app.command()
def plan(
    models: Annotated[list[str] | None, typer.Argument(help="Named models (leave out for all of them), smollm2, a "
                                                       "model folder with config.json, or a GGUF file.")] = None,
    context: Annotated[int, typer.Option(help="Tokens in the KV cache.")] = 4096,
    batch: Annotated[int, typer.Option(help="Sequences decoded together.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="Weights format for the KV, fit and speed columns: fp32, "
                                     "fp16, q8_0, q4_0 or q4_k.")] = "q4_0",
    check: Annotated[bool, typer.Option("--check", help="Also measure SmolLM2 in each format here against the "
                                        "prediction (about a minute).")] = False,
) -> None:
    """Parameters, memory, fine-tuning memory and decode speed of large models on this machine (chapter 7)."""
    from zero2hero.llama.plan_sources import named_models, resolve
    from zero2hero.llama.planner import make_plan, plan_rows

    try:
        plans = []
        for name in models or list(named_models()):
            arch, file_bytes = resolve(name)
            bandwidth = plans[0].bandwidth_gb_per_s if plans else None
            plans.append(make_plan(arch, fmt.lower(), context, batch, bandwidth, file_bytes=file_bytes))
    except Zero2HeroError as error:
        fail(error)
    ram = plans[0].ram
    _print_table(f"plan at {context:,} tokens × batch {batch}: {plans[0].bandwidth_gb_per_s:.1f} GB/s measured, RAM "
                 f"{ram.total_bytes / 1e9:.1f} GB ({ram.available_bytes / 1e9:.1f} GB free)", *plan_rows(plans))
    if check:
        from zero2hero.llama.plan_check import check_smollm2, check_table

        try:
            rows = check_smollm2(progress=_progress_printer())
        except Zero2HeroError as error:
            fail(error)
        _print_table("SmolLM2: predicted vs measured", *check_table(rows))


@app.command()
def assets(
    require: Annotated[bool, typer.Option("--require", help="Exit non-zero if any default is missing.")] = False,
) -> None:
    """The offline default models and data: where they are, their size, how to install them."""
    from zero2hero.assets import offline_defaults

    defaults = offline_defaults()
    rows = [[d.name, d.role, "yes" if d.installed else "[red]no[/]",
             f"{d.size_mb:.1f} MB" if d.size_mb is not None else "", d.location, d.licence] for d in defaults]
    missing = [d.name for d in defaults if not d.installed]
    _print_table("offline defaults", ["name", "what", "installed", "size", "path / install", "licence"], rows)
    if require and missing:
        fail(Zero2HeroError(f"missing offline defaults: {', '.join(missing)}", "run `make setup`"))


@app.command()
def doctor() -> None:
    """Python/torch versions, threads, RAM, GPU/MPS, offline mode, and what they mean for the course."""
    from zero2hero.doctor import diagnose

    report = diagnose()
    _print_table("your machine", ["item", "value"], [[k, v] for k, v in report.facts.items()])
    for warning in report.warnings:
        console.print(f"[yellow]•[/] {warning}", highlight=False)


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help="Benchmark name, or 'all'. Leave out to list them.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (figures, or the list).")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller inputs: a fast smoke run.")] = False,
) -> None:
    """Measure one thing against a peer in the same run and print the ratio."""
    from zero2hero.bench import available_benchmarks, benchmark_description, get_benchmark

    if not name:
        descriptions = {n: benchmark_description(n) for n in available_benchmarks()}
        if as_json:
            print(json.dumps(descriptions, indent=2))
        else:
            _print_table("benchmarks", ["name", "what it measures"], [[n, d] for n, d in descriptions.items()])
        return
    names = list(available_benchmarks()) if name == "all" else [name]
    results = {}
    try:
        for bench_name in names:
            module = get_benchmark(bench_name)
            if not as_json:
                console.print(f"[dim]›[/] running [bold]{bench_name}[/] — {module.DESCRIPTION}", highlight=False)
            results[bench_name] = module.run(quick=quick)
    except Zero2HeroError as error:
        fail(error)
    if as_json:
        figures = {n: r.figures for n, r in results.items()}
        print(json.dumps(figures[name] if name != "all" else figures, indent=2))
        return
    for result in results.values():
        for table in result.tables:
            _print_table(f"bench {result.name}: {table.title}", table.columns, table.rows)
        for note in result.notes:
            console.print(f"[dim]•[/] {note}", highlight=False)


def main() -> None:
    """Entry point that keeps tracebacks away from learners for errors they can fix.

    SIGTERM (``kill``, a closed terminal, a CI time-out) is turned into Ctrl-C, so the same clean-up runs
    for both: a temporary run or cache folder is removed as the exception passes through its writer.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except Zero2HeroError as error:  # raised outside a command's own handler
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(1)
    except OSError as error:  # a disk full or read-only, a path that is a file: one line, no traceback
        err_console.print(f"[bold red]error:[/] {os_error(error)}", highlight=False)
        sys.exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
