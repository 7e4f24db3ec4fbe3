"""Many reviews at once: the three batch formats (a JSON object, CSV, JSON Lines) and classifying a whole file.

* JSON: ``{"texts": ["...", "..."]}``;
* CSV: a header row with a ``text`` column (other columns, such as ``id``, are kept beside the result);
* JSON Lines: one object per line with a ``"text"`` key.

Batches are classified only (no replies): a reply takes seconds, a classification milliseconds.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zero2hero.app.validation import RequestError
from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text

if TYPE_CHECKING:
    from zero2hero.app.desk import ReviewDesk

FORMATS = ("json", "csv", "jsonl")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


def read_records(body: str, fmt: str) -> list[dict[str, Any]]:
    """The records (each with a "text" string) in ``body`` written in ``fmt``; :class:`RequestError` otherwise."""
    if fmt == "json":
        records = _json_records(body)
    elif fmt == "csv":
        records = _csv_records(body)
    elif fmt == "jsonl":
        records = _jsonl_records(body)
    else:
        raise RequestError([f"unknown batch format {fmt!r}: use one of {', '.join(FORMATS)}"])
    problems = [f"item {i}: \"text\" must be a non-blank string" for i, record in enumerate(records, 1)
                if not isinstance(record.get("text"), str) or not record["text"].strip()]
    if problems:
        raise RequestError(problems)
    return records


def _json_records(body: str) -> list[dict[str, Any]]:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as err:
        raise RequestError([f"the body is not JSON ({err})"]) from None
    if not isinstance(payload, dict) or set(payload) != {"texts"} or not isinstance(payload["texts"], list):
        raise RequestError(['the body must be {"texts": [...]}, a list of review texts'])
    return [{"text": text} for text in payload["texts"]]


def _csv_records(body: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(body))
    if "text" not in (reader.fieldnames or []):
        raise RequestError([f"the CSV has no \"text\" column (its header: {', '.join(reader.fieldnames or [])})"])
    try:
        return list(reader)
    except csv.Error as err:
        raise RequestError([f"the CSV cannot be read ({err})"]) from None


def _jsonl_records(body: str) -> list[dict[str, Any]]:
    records, problems = [], []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {number} is not JSON")
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            problems.append(f"line {number} is not a JSON object")
    if problems:
        raise RequestError(problems)
    return records


def classify_file(desk: ReviewDesk, path: Path, out_path: Path, batch_size: int = 64) -> int:
    """Classify every review of the CSV or JSONL file ``path`` into the JSONL file ``out_path`` (one line per
    review: its "id" when the input has one, its row number, the predicted classes and the probabilities), on
    all cores; return the number of reviews."""
    import torch

    path, out_path = Path(path), Path(out_path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt not in ("csv", "jsonl"):
        raise InputError(f"{path.name}: a batch file must end in .csv or .jsonl",
                         "write the reviews as CSV with a text column, or JSON Lines with a \"text\" key")
    try:
        records = read_records(path.read_text(encoding="utf-8"), fmt)
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text", "save it as UTF-8") from None
    except RequestError as err:
        raise InputError(f"{path}: {'; '.join(err.problems)}", "fix the file and run it again") from None
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        results = desk.classify([record["text"] for record in records], batch_size)
    finally:
        torch.set_num_threads(threads)
    lines = []
    for row, (record, result) in enumerate(zip(records, results, strict=True), 1):
        identity = {"id": record["id"]} if "id" in record else {}
        lines.append(json.dumps({**identity, "row": row, **result}, ensure_ascii=False) + "\n")
    atomic_write_text(out_path, "".join(lines))
    return len(records)
