"""``z2h prompt score``: a reader's 1-5 rubric scores (the run's ``rubric.csv``, filled in) read back, checked, and
averaged per condition with bootstrap intervals, written into the run folder as ``rubric.md`` and ``rubric.json``.

A blank cell is a score not given yet: it is left out of the means. Anything else must be a whole number 1-5.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text
from zero2hero.prompting.report import RUBRIC_KEYS, interval_text, read_run
from zero2hero.prompting.stats import Interval, interval
from zero2hero.reporting import Table
from zero2hero.text.io import decode_text

OVERALL = "mean of the criteria"


def _rows(path: Path, criteria: list[str]) -> list[dict[str, str]]:
    if not Path(path).is_file():
        raise InputError(f"no rubric file at {path}", "pass the run's rubric.csv after filling in the scores")
    reader = csv.DictReader(decode_text(Path(path).read_bytes(), source=str(path)).splitlines())
    missing = [c for c in (*RUBRIC_KEYS, *criteria) if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path} lacks the column(s) {', '.join(missing)}",
                         "fill in the rubric.csv the run wrote, keeping its header row")
    return list(reader)


def _score(cell: str, where: str) -> int | None:
    cell = (cell or "").strip()
    if not cell:
        return None
    if not cell.isdigit() or not 1 <= int(cell) <= 5:
        raise InputError(f"{where}: score {cell!r} is not a whole number from 1 to 5", "score each criterion 1-5")
    return int(cell)


def read_scores(run_folder: Path, filled: Path) -> dict[str, dict[str, list[float]]]:
    """Condition -> criterion (and :data:`OVERALL`, the mean of an output's scored criteria) -> its scores."""
    run = read_run(run_folder)
    criteria = list(run.meta.get("rubric") or [])
    if not criteria:
        raise InputError(f"the prompt set {run.meta.get('prompt_set')!r} of this run has no rubric",
                         "rubric scoring is for free-text sets (e.g. qualitative); compare accuracies instead")
    known = {(r["condition"], r["id"]) for r in run.records}
    conditions = list(dict.fromkeys(r["condition"] for r in run.records))
    scores: dict[str, dict[str, list[float]]] = {c: {k: [] for k in (*criteria, OVERALL)} for c in conditions}
    for line, row in enumerate(_rows(filled, criteria), start=2):
        if (row["condition"], row["item_id"]) not in known:
            raise InputError(f"{filled}, line {line}: item {row['item_id']!r} under condition {row['condition']!r} "
                             "is not in this run", "score the rubric.csv of the same run, without editing the ids")
        given = {c: _score(row[c], f"{filled}, line {line}, {c}") for c in criteria}
        for criterion, value in given.items():
            if value is not None:
                scores[row["condition"]][criterion].append(value)
        values = [v for v in given.values() if v is not None]
        if values:
            scores[row["condition"]][OVERALL].append(sum(values) / len(values))
    if not any(scores[c][OVERALL] for c in conditions):
        raise InputError(f"{filled} holds no scores yet", "fill in the criteria columns with 1-5")
    return scores


def score_rubric(run_folder: Path, filled: Path) -> Table:
    """Per-condition means of each criterion with 95 % intervals; written to ``rubric.md`` and ``rubric.json``."""
    scores = read_scores(run_folder, filled)
    criteria = list(next(iter(scores.values())))
    means: dict[str, dict[str, Interval | None]] = {
        condition: {k: interval(v) if v else None for k, v in by_criterion.items()}
        for condition, by_criterion in scores.items()}
    table = Table("Rubric scores (1-5), mean [95% CI]", ["condition", *criteria],
                  [[c, *[interval_text(m[k]) for k in criteria]] for c, m in means.items()])
    atomic_write_text(Path(run_folder) / "rubric.md", f"# {table.title}\n\n{table.to_markdown()}\n")
    atomic_write_text(Path(run_folder) / "rubric.json", json.dumps(
        {c: {k: asdict(v) if v else None for k, v in m.items()} for c, m in means.items()}, indent=2))
    return table
