"""Remembering each chapter's last `z2h check` result, so `z2h list` can show it without re-running."""

from __future__ import annotations

import json
import time

from zero2hero.assets import cache_dir
from zero2hero.checks import is_untouched_stub, stub_path
from zero2hero.errors import Zero2HeroError


def _status_file():  # noqa: ANN202
    return cache_dir() / "check-status.json"


def record_status(chapter: int, passed: int, total: int) -> None:
    path = _status_file()
    data = json.loads(path.read_text()) if path.exists() else {}
    data[str(chapter)] = {"passed": passed, "total": total, "time": time.time()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def exercise_status(chapter: int) -> str:
    """'not started', 'edited, not checked yet', or the last check's 'passed/total'."""
    try:
        path = stub_path(chapter)
    except Zero2HeroError:
        return ""
    if is_untouched_stub(path):
        return "not started"
    status_path = _status_file()
    last = json.loads(status_path.read_text()).get(str(chapter)) if status_path.exists() else None
    if not last or last["time"] < path.stat().st_mtime:
        return "edited — run `z2h check`"
    return f"{last['passed']}/{last['total']} pass"
