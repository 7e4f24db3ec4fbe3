"""Remembering each chapter's last `z2h check` result, so `z2h list` can show it without re-running."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from zero2hero.assets import cache_dir
from zero2hero.checks import is_untouched_stub, stub_path
from zero2hero.errors import Zero2HeroError
from zero2hero.files import atomic_write_text


def _status_file() -> Path:
    return cache_dir() / "check-status.json"


def _read_statuses() -> dict[str, Any]:
    """The recorded statuses; a missing, unreadable or corrupt file counts as no status yet (it is rewritten)."""
    try:
        data = json.loads(_status_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_status(chapter: int, passed: int, total: int) -> None:
    data = _read_statuses()
    data[str(chapter)] = {"passed": passed, "total": total, "time": time.time()}
    atomic_write_text(_status_file(), json.dumps(data, indent=2))


def exercise_status(chapter: int) -> str:
    """'not started', 'edited, not checked yet', 'syntax error line N', or the last check's 'passed/total'."""
    try:
        path = stub_path(chapter)
    except Zero2HeroError:
        return ""
    try:
        if is_untouched_stub(path):
            return "not started"
    except SyntaxError as err:
        return f"syntax error line {err.lineno}"
    except UnicodeDecodeError:
        return "not UTF-8 — save it as UTF-8"
    last = _read_statuses().get(str(chapter))
    try:
        if not last or last["time"] < path.stat().st_mtime:
            return "edited — run `z2h check`"
        return f"{last['passed']}/{last['total']} pass"
    except (KeyError, TypeError):  # a hand-edited or old status entry
        return "edited — run `z2h check`"
