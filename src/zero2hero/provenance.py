"""What a run's numbers were computed from: the course corpus's SHA-256 and the Debian packages it was built from.

Hashing the 10 MB corpus takes ~30 ms; the digest is still cached next to the file, keyed by the file's size
and modification time, so that a replaced corpus is hashed again and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from zero2hero.assets import file_fingerprint
from zero2hero.files import atomic_write_text


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, cached in ``<file>.sha256.json`` until the file's size or modification time changes."""
    cache = path.with_name(f"{path.name}.sha256.json")
    fingerprint = file_fingerprint(path)
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached["fingerprint"] == fingerprint:
            return str(cached["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache yet, or a damaged one: hash the file
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    atomic_write_text(cache, json.dumps({"fingerprint": fingerprint, "sha256": digest.hexdigest()}))
    return digest.hexdigest()


def corpus_provenance() -> dict[str, Any]:
    """The course corpus as recorded in a run's environment.json: installed or not, size, SHA-256, and the
    Debian package versions it was built from (None when it was put in place by hand)."""
    from zero2hero.corpus import corpus_path, recorded_package_versions

    path = corpus_path()
    if not path.is_file():
        return {"installed": False}
    return {"installed": True, "size_bytes": path.stat().st_size, "sha256": file_sha256(path),
            "debian_packages": recorded_package_versions()}
