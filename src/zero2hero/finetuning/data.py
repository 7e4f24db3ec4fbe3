"""Labelled text examples: the types, a learner's own CSV/JSONL file, and the default data set.

The default is the Amazon fine-food reviews that the R package ``modeldata`` (MIT licence) ships and
Debian packages as ``r-cran-modeldata``: ``make setup`` runs ``python -m zero2hero.finetuning.data
install``, which fetches the package, reads its two data frames and writes them as JSON lines into the
cache with a ``card.json`` that records where they came from and their checksums.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zero2hero.assets import cache_dir
from zero2hero.debian import fetch_packages, read_r_lazyload
from zero2hero.errors import AssetMissingError, InputError, Zero2HeroError
from zero2hero.files import atomic_dir, os_error, sweep_stale_temporaries, temporary_dir
from zero2hero.text.io import decode_text


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # index into the label names


@dataclass
class LabelledSplits:
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    label_names: list[str]  # label id -> name, e.g. ["great", "other"]


@dataclass
class LabelledData:
    """A data set before validation is split off: the official train and test sets."""

    train: list[Example]
    test: list[Example]
    label_names: list[str]  # label id -> name


# ---- a learner's own file (CSV, TSV or JSON lines) -------------------------------------------------------

def load_labelled_file(path: str | Path, text_column: str = "text", label_column: str = "label",
                       label_names: list[str] | None = None) -> tuple[list[Example], list[str]]:
    """The examples of a labelled CSV, TSV or JSONL file, and the label names their ids index.

    Without ``label_names`` the names are the distinct labels of the file, sorted (numerically when
    all are whole numbers), and the file must hold at least two; pass the training file's names when
    reading a test file, so the same label gets the same id (a label the training file never had is an
    error, see :func:`check_labels`). Raises :class:`InputError` for a missing file, a file that is
    not UTF-8 text, a missing column (naming those that exist), empty texts or labels (naming the
    records, counted from 1 after any header) and a single class.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file", "check the path (a CSV, TSV or JSONL file with a text and a label)")
    text = decode_text(path.read_bytes(), source=str(path))
    records = _read_records(path, text, (text_column, label_column))
    if not records:
        raise InputError(f"{path} holds no examples", "add one example per line or row")
    texts = [record[text_column] for record in records]
    labels = [_label_string(record[label_column]) for record in records]
    _refuse_empty(path, "text", [i for i, t in enumerate(texts, 1) if not isinstance(t, str) or not t.strip()])
    _refuse_empty(path, "label", [i for i, label in enumerate(labels, 1) if not label])
    if label_names is None:
        label_names = sorted(set(labels), key=_label_order)
        if len(label_names) < 2:
            raise InputError(f"every example of {path} has the label {label_names[0]!r}",
                             "a classifier needs examples of at least two classes")
    check_labels(label_names, labels, source=str(path))
    ids = {name: i for i, name in enumerate(label_names)}
    return [Example(text, ids[label]) for text, label in zip(texts, labels, strict=True)], list(label_names)


def check_labels(train_names: list[str], test_labels: list[str], source: str = "the test file") -> None:
    """Raise :class:`InputError` when ``test_labels`` holds a label the training data never had."""
    unseen = sorted(set(test_labels) - set(train_names))
    if unseen:
        raise InputError(f"{source} has labels the training data never has: {', '.join(map(repr, unseen))} "
                         f"(the training labels are {', '.join(map(repr, train_names))})",
                         "fix or drop those examples: a model cannot learn a class it never saw")


def _read_records(path: Path, text: str, columns: tuple[str, str]) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, text, columns, delimiter="," if suffix == ".csv" else "\t")
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path, text, columns)
    raise InputError(f"{path}: cannot tell the format from the name ending {suffix!r}",
                     "name it .csv, .tsv or .jsonl (one JSON object per line)")


def _read_csv(path: Path, text: str, columns: tuple[str, str], delimiter: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    present = reader.fieldnames or []
    for column in columns:
        if column not in present:
            raise InputError(f"{path} has no column {column!r}; its columns are: {', '.join(map(repr, present))}",
                             "name the columns to use (text_column=..., label_column=...)")
    try:
        return [{column: row[column] or "" for column in columns} for row in reader]
    except csv.Error as err:
        raise InputError(f"{path} is not a readable CSV file (line {reader.line_num}: {err})",
                         "check its quoting, or save it again from a spreadsheet as CSV UTF-8") from None


def _read_jsonl(path: Path, text: str, columns: tuple[str, str]) -> list[dict[str, Any]]:
    records = []
    for line_number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path} line {line_number} is not JSON ({err.msg})",
                             "write one JSON object per line, e.g. {\"text\": \"...\", \"label\": \"great\"}") from None
        if not isinstance(record, dict):
            raise InputError(f"{path} line {line_number} is not a JSON object", "write one object per line")
        for column in columns:
            if column not in record:
                raise InputError(f"{path} line {line_number} has no field {column!r}; its fields are: "
                                 f"{', '.join(map(repr, record))}",
                                 "name the fields to use (text_column=..., label_column=...)")
        records.append(record)
    return records


def _label_order(name: str) -> tuple[int, int, str]:
    """Sort key: whole numbers first, by value ("2" before "10"), then other names alphabetically."""
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def _label_string(value: object) -> str:
    """A label as text: JSON numbers and strings alike (``1`` and ``"1"`` are one label)."""
    return "" if value is None else str(value).strip()


def _refuse_empty(path: Path, what: str, records: list[int]) -> None:
    if records:
        shown = ", ".join(map(str, records[:10])) + (f" and {len(records) - 10} more" if len(records) > 10 else "")
        raise InputError(f"{path} has an empty {what} in {len(records)} record(s): {shown} (counted from 1)",
                         f"give every example a {what}, or drop those records")


# ---- the default data set: fine-food reviews -------------------------------------------------------------

FINE_FOODS_VERSION = "v1"
DEBIAN_PACKAGE = "r-cran-modeldata"
_R_DATA_FOLDER = "usr/lib/R/site-library/modeldata/data"
_R_OBJECTS = {"train.jsonl": "training_data", "test.jsonl": "testing_data"}
_CARD = "card.json"
_OWN_DATA_HINT = ("elsewhere, use your own labelled CSV or JSONL file: "
                  "zero2hero.finetuning.data.load_labelled_file(path, text_column=..., label_column=...)")


def fine_foods_dir() -> Path:
    return cache_dir() / f"fine-foods-{FINE_FOODS_VERSION}"


def _missing_install(problem: str) -> AssetMissingError:
    return AssetMissingError(f"the fine-food reviews data set {problem}",
                             "run `make setup` (or `python -m zero2hero.finetuning.data install --force`; it needs "
                             f"Debian/Ubuntu's apt-get); {_OWN_DATA_HINT}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verified_card(folder: Path) -> dict[str, Any]:
    """The folder's card, once every file it lists has the SHA-256 the card records."""
    try:
        card = json.loads((folder / _CARD).read_text(encoding="utf-8"))
        files = card["files"]
        label_names = card["label_names"]
    except FileNotFoundError:
        raise _missing_install(f"is not installed ({folder / _CARD} is missing)") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise _missing_install(f"is damaged ({folder / _CARD} is unreadable)") from None
    if not isinstance(files, dict) or set(files) != set(_R_OBJECTS) or not isinstance(label_names, list):
        raise _missing_install(f"is damaged ({folder / _CARD} does not list its files and labels)")
    for name, facts in files.items():
        try:
            data = (folder / name).read_bytes()
        except OSError:
            raise _missing_install(f"is damaged ({folder / name} is missing)") from None
        if not isinstance(facts, dict) or _sha256(data) != facts.get("sha256"):
            raise _missing_install(f"is damaged ({folder / name} does not match the SHA-256 in its card)")
    return card


def load_fine_foods() -> LabelledData:
    """The Amazon fine-food reviews: 4,000 training and 1,000 test reviews labelled ``great`` (5 stars) or ``other``.

    Raises :class:`AssetMissingError` when the data set is not installed or its files do not match the
    checksums in ``card.json``; the hint names the command that (re)installs it.
    """
    folder = fine_foods_dir()
    card = _verified_card(folder)
    train, names = load_labelled_file(folder / "train.jsonl", label_names=card["label_names"])
    test, _ = load_labelled_file(folder / "test.jsonl", label_names=names)
    return LabelledData(train=train, test=test, label_names=names)


def _fetch_fine_foods() -> tuple[dict[str, list[dict[str, str]]], list[str], str]:
    """Rows per file name ({"text", "label"}), the label names and the Debian package version."""
    with tempfile.TemporaryDirectory(prefix="z2h-fine-foods-") as tmp:
        fetched = fetch_packages([DEBIAN_PACKAGE], Path(tmp), without_apt_hint=_OWN_DATA_HINT)
        frames = {name: read_r_lazyload(fetched.root / _R_DATA_FOLDER, obj) for name, obj in _R_OBJECTS.items()}
    label_names = [str(name) for name in frames["train.jsonl"]["score"].cat.categories]
    rows = {name: [{"text": str(text), "label": str(label)}
                   for text, label in zip(frame["review"], frame["score"], strict=True)]
            for name, frame in frames.items()}
    return rows, label_names, fetched.versions[DEBIAN_PACKAGE]


def _card(rows: dict[str, list[dict[str, str]]], contents: dict[str, bytes], label_names: list[str],
          version: str) -> dict[str, Any]:
    return {
        "name": f"fine-foods-{FINE_FOODS_VERSION}",
        "description": "Amazon fine-food reviews (Stanford SNAP web-FineFoods), labelled 'great' when the reviewer "
                       "gave 5 stars and 'other' for 1 to 4 stars. Texts as published (some hold HTML <br /> tags).",
        "source": {"debian_package": DEBIAN_PACKAGE, "debian_version": version, "r_package": "modeldata",
                   "r_objects": _R_OBJECTS, "upstream": "https://snap.stanford.edu/data/web-FineFoods.html"},
        "licence": "MIT (the modeldata R package)",
        "label_names": label_names,
        "files": {name: {"rows": len(file_rows),
                         "class_counts": {label: sum(r["label"] == label for r in file_rows) for label in label_names},
                         "sha256": _sha256(contents[name])}
                  for name, file_rows in rows.items()},
    }


def install_fine_foods(force: bool = False) -> Path:
    """Fetch ``r-cran-modeldata``, read its fine-food reviews and write them into the cache, atomically.

    Writes ``fine-foods-v1/`` with ``train.jsonl`` and ``test.jsonl`` (one ``{"text", "label"}`` object
    per line) and ``card.json`` (source, licence, row counts, class balance, SHA-256 of each file).
    An intact install is kept unless ``force``; a damaged one is replaced.
    """
    target = fine_foods_dir()
    if not force:
        try:
            _verified_card(target)
            return target
        except AssetMissingError:
            pass
    rows, label_names, version = _fetch_fine_foods()
    contents = {name: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in file_rows).encode("utf-8")
                for name, file_rows in rows.items()}
    card = json.dumps(_card(rows, contents, label_names, version), indent=2, ensure_ascii=False) + "\n"
    sweep_stale_temporaries(cache_dir())
    with temporary_dir(target) as parking:  # an earlier copy waits here until the new one is in place
        previous = parking / target.name
        if target.exists():
            target.rename(previous)
        try:
            with atomic_dir(target) as folder:
                for name, data in contents.items():
                    (folder / name).write_bytes(data)
                (folder / _CARD).write_text(card, encoding="utf-8")
        except BaseException:
            if previous.exists() and not target.exists():
                previous.rename(target)
            raise
    return target


def main(argv: list[str]) -> None:
    """``python -m zero2hero.finetuning.data install [--force]``: install the fine-food reviews."""
    parser = argparse.ArgumentParser(prog="python -m zero2hero.finetuning.data",
                                     description="Install the fine-food reviews data set (chapter 5).")
    parser.add_argument("command", choices=["install"])
    parser.add_argument("--force", action="store_true", help="fetch and write it again even if it is intact")
    args = parser.parse_args(argv)
    try:
        path = install_fine_foods(force=args.force)
    except Zero2HeroError as err:  # one clear line, no traceback: e.g. no apt-get on this machine
        sys.exit(f"error: {err}")
    except OSError as err:  # e.g. a full disk
        sys.exit(f"error: {os_error(err)}")
    card = json.loads((path / _CARD).read_text(encoding="utf-8"))
    counts = ", ".join(f"{facts['rows']:,} {name.removesuffix('.jsonl')}" for name, facts in card["files"].items())
    print(f"fine-food reviews: {path} ({counts})")


if __name__ == "__main__":
    main(sys.argv[1:])
