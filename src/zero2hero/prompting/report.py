"""The run folder of ``z2h prompt run``: ``runs/<timestamp>-prompt-<set>/``, written under a temporary name and renamed
when complete.

* ``report.md`` — accuracy and parse rate per condition with 95 % bootstrap intervals, each condition compared with
  the first on the same items (paired), then every item's prompt and outputs side by side;
* ``report.html`` — the same in one self-contained page (inline CSS, no external file; every text HTML-escaped);
* ``rubric.csv`` — one row per item and condition, with an empty column per rubric criterion for a reader to score
  1-5 (``z2h prompt score``);
* ``records.jsonl`` — one JSON object per item and condition: everything needed to score or compare again;
* ``run.json`` — the prompt set, model, engine, conditions, timings and library versions.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text, ensure_writable_dir, move_into_place, temporary_dir
from zero2hero.prompting.harness import ConditionResult
from zero2hero.prompting.promptset import PromptSet
from zero2hero.prompting.stats import Interval, PairedComparison, compare_paired
from zero2hero.reporting import Table, environment, run_dir_name

RUBRIC_KEYS = ("item_id", "condition", "output")  # the columns of rubric.csv before the criteria


@dataclass
class RunInfo:
    """What ran: shown at the top of the report and stored in run.json."""

    prompt_set: str
    kind: str
    model: str
    engine: str
    labels: list[str]
    rubric: list[str]
    options: dict[str, Any]  # the command's options as given


def condition_names(results: list[ConditionResult]) -> list[str]:
    """Each condition's name, numbered so that two identical conditions stay apart: ``1. default 0-shot generate``."""
    return [f"{i}. {r.condition.name}" for i, r in enumerate(results, start=1)]


def interval_text(value: Interval | None) -> str:
    return "—" if value is None else f"{value.mean:.3f} [{value.low:.3f}, {value.high:.3f}]"


def correct_by_item(result: ConditionResult) -> dict[str, float]:
    """Item id -> 1.0 / 0.0 for the items whose answer could be checked."""
    return {r.id: float(r.scored.correct) for r in result.records if r.scored.correct is not None}


def comparisons(results: list[ConditionResult]) -> list[tuple[str, PairedComparison]]:
    """Every later condition against the first, paired over the items both checked."""
    names = condition_names(results)
    base = correct_by_item(results[0])
    out = []
    for name, result in zip(names[1:], results[1:], strict=True):
        other = correct_by_item(result)
        common = [i for i in base if i in other]
        if common:
            out.append((name, compare_paired([base[i] for i in common], [other[i] for i in common],
                                             names=(names[0].split(".")[0], name.split(".")[0]))))
    return out


def metrics_table(results: list[ConditionResult]) -> Table:
    rows = [[name, interval_text(r.accuracy()), interval_text(r.parse_rate()), len(r.records),
             round(r.examples_per_s, 2), r.prefix_tokens, round(r.seconds, 2)]
            for name, r in zip(condition_names(results), results, strict=True)]
    return Table("Conditions", ["condition", "accuracy [95% CI]", "parse rate [95% CI]", "items", "examples/s",
                                "cached prefix tokens", "seconds"], rows)


def _mark(correct: bool | None) -> str:
    return {True: "✓", False: "✗", None: ""}[correct]


def render_markdown(info: RunInfo, results: list[ConditionResult]) -> str:
    names = condition_names(results)
    parts = [f"# Prompt set `{info.prompt_set}` ({info.kind})",
             f"Model `{info.model}` on engine `{info.engine}`; {len(results[0].records)} items.",
             "## Metrics", metrics_table(results).to_markdown()]
    pairs = comparisons(results)
    if pairs:
        parts += ["## Against condition 1 (paired over the same items)",
                  *[f"- **{name}**: {comparison.verdict}" for name, comparison in pairs]]
    parts.append("## Prompts and outputs")
    for i, record in enumerate(results[0].records):
        parts.append(f"### {record.id}" + (f" — reference: `{record.reference}`" if record.reference else ""))
        shown = [r.records[i] for r in results]
        rows = [[name, rec.output.strip(), rec.scored.answer or "", _mark(rec.scored.correct)]
                for name, rec in zip(names, shown, strict=True)]
        parts.append(Table("", ["condition", "output", "answer", "correct"], rows).to_markdown())
        for name, r in zip(names, results, strict=True):
            parts.append(f"<details><summary>prompt of {name} ({r.records[i].prompt_tokens} tokens)</summary>\n\n"
                         f"```text\n{r.records[i].prompt}\n```\n</details>")
    return "\n\n".join(parts) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}th{background:#f3f3f3}
pre{white-space:pre-wrap;background:#f8f8f8;padding:6px;margin:0;font-size:12px;max-height:24em;overflow:auto}
.ok{color:#070}.bad{color:#b00}.item{margin-top:2em}"""


_HTML_MARKS = {True: '<span class="ok">✓</span>', False: '<span class="bad">✗</span>', None: ""}


def _html_table(columns: list[str], rows: list[list[str]]) -> str:
    """A table of already-escaped cells."""
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(info: RunInfo, results: list[ConditionResult]) -> str:
    e = html.escape
    names = condition_names(results)
    table = metrics_table(results)
    parts = [f"<h1>Prompt set <code>{e(info.prompt_set)}</code> ({e(info.kind)})</h1>",
             f"<p>Model <code>{e(info.model)}</code> on engine <code>{e(info.engine)}</code>; "
             f"{len(results[0].records)} items.</p>",
             "<h2>Metrics</h2>", _html_table([e(c) for c in table.columns], [[e(str(v)) for v in row]
                                                                             for row in table.rows])]
    pairs = comparisons(results)
    if pairs:
        parts.append("<h2>Against condition 1 (paired over the same items)</h2><ul>"
                     + "".join(f"<li><b>{e(n)}</b>: {e(c.verdict)}</li>" for n, c in pairs) + "</ul>")
    parts.append("<h2>Prompts and outputs</h2>")
    for i, record in enumerate(results[0].records):
        cells = []
        for r in results:
            rec = r.records[i]
            mark = _HTML_MARKS[rec.scored.correct]
            cells.append(f"<pre>{e(rec.output)}</pre><p>answer: <code>{e(rec.scored.answer or '')}</code> {mark}</p>"
                         f"<details><summary>prompt ({rec.prompt_tokens} tokens)</summary><pre>{e(rec.prompt)}</pre>"
                         "</details>")
        reference = f" — reference: <code>{e(record.reference)}</code>" if record.reference else ""
        parts.append(f'<div class="item"><h3>{e(record.id)}{reference}</h3>'
                     + _html_table([e(n) for n in names], [cells]) + "</div>")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(info.prompt_set)}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def rubric_csv(info: RunInfo, results: list[ConditionResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*RUBRIC_KEYS, *info.rubric])
    for name, result in zip(condition_names(results), results, strict=True):
        for record in result.records:
            writer.writerow([record.id, name, record.output.strip(), *[""] * len(info.rubric)])
    return buffer.getvalue()


def records_jsonl(results: list[ConditionResult]) -> str:
    lines = []
    for name, result in zip(condition_names(results), results, strict=True):
        for r in result.records:
            lines.append(json.dumps({"condition": name, "id": r.id, "reference": r.reference, "output": r.output,
                                     **asdict(r.scored), "prompt": r.prompt, "prompt_tokens": r.prompt_tokens,
                                     "label_log_probs": r.label_log_probs, "chains": r.chains, "seconds": r.seconds},
                                    ensure_ascii=False))
    return "\n".join(lines) + "\n"


def run_json(info: RunInfo, results: list[ConditionResult]) -> str:
    conditions = [{"name": name, **asdict(r.condition), "seconds": r.seconds, "examples_per_s": r.examples_per_s,
                   "prefix_tokens": r.prefix_tokens, "calibration": r.calibration,
                   "accuracy": asdict(r.accuracy()) if r.accuracy() else None, "parse_rate": asdict(r.parse_rate())}
                  for name, r in zip(condition_names(results), results, strict=True)]
    return json.dumps({**asdict(info), "conditions": conditions, "environment": environment()}, indent=2,
                      ensure_ascii=False)


def write_run(out_root: Path, info: RunInfo, results: list[ConditionResult]) -> Path:
    """Write the run folder under ``out_root`` atomically; returns it."""
    if not results or any(len(r.records) != len(results[0].records) for r in results):
        raise InputError("the conditions of a run must cover the same items", "run every condition on the same items")
    final = ensure_writable_dir(out_root) / run_dir_name(f"prompt-{info.prompt_set}")
    with temporary_dir(final) as tmp:
        for name, text in (("report.md", render_markdown(info, results)), ("report.html", render_html(info, results)),
                           ("rubric.csv", rubric_csv(info, results)), ("records.jsonl", records_jsonl(results)),
                           ("run.json", run_json(info, results))):
            atomic_write_text(tmp / name, text)
        return move_into_place(tmp, final, unique=True)


def run_info(ps: PromptSet, model: str, engine: str, options: dict[str, Any]) -> RunInfo:
    return RunInfo(ps.name, ps.kind, model, engine, list(ps.labels), list(ps.rubric), options)


@dataclass
class SavedRun:
    """A run folder read back: run.json and the records of records.jsonl."""

    folder: Path
    meta: dict[str, Any]
    records: list[dict[str, Any]]


def read_run(folder: Path) -> SavedRun:
    """A ``z2h prompt run`` folder; :class:`InputError` when it is not one or its files are damaged."""
    folder = Path(folder)
    if not (folder / "run.json").is_file() or not (folder / "records.jsonl").is_file():
        raise InputError(f"{folder} is not a prompt run folder (no run.json / records.jsonl)",
                         "pass a folder written by z2h prompt run, e.g. runs/<timestamp>-prompt-sentiment")
    try:
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        records = [json.loads(line) for line in (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()
                   if line.strip()]
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{folder}: run.json or records.jsonl is damaged ({err})",
                         "run z2h prompt run again") from None
    return SavedRun(folder, meta, records)
