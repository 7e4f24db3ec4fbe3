"""Writing the pipeline's JSON-lines records (one object per line), atomically; ``stage_io.read_records`` reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zero2hero.files import atomic_write_text


def records_text(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    """Write ``records`` to ``path`` as JSON lines, all or nothing."""
    atomic_write_text(Path(path), records_text(records))
