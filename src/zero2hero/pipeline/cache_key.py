"""A stage's cache key: the hash of everything its result depends on — its inputs, its parameters and its code.

Two runs with the same key would compute the same outputs, so the second may reuse the first's. DVC keeps its own
key per stage (the md5s in ``dvc.lock``); this one names the stage's checkpoints and goes into the run manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1 << 20


def stage_cache_key(deps: dict[str, str], params: dict[str, Any], code: str) -> str:
    """The key a stage's result is cached under: the SHA-256 (64 hex digits) of everything that can change it.

    ``deps`` maps each input file to the hash of its content, ``params`` holds the stage's settings and ``code`` is
    the hash of the stage's source. The three go into one JSON object ``{"code": ..., "deps": ..., "params": ...}``
    written canonically — keys sorted at every level, no spaces (``separators=(",", ":")``), non-ASCII characters kept
    (``ensure_ascii=False``) — and the SHA-256 of its UTF-8 bytes, in hexadecimal, is the key. Canonical JSON makes
    the key depend on the values only, never on the order a dict was filled in.

    >>> stage_cache_key({"data/raw.jsonl": "ab12"}, {"min_chars": 20}, "c0de")[:12]
    'c15470b9d040'
    """
    # 1. One object holds all three inputs; the names are fixed so that each value always lands under the same key.
    inputs = {"code": code, "deps": deps, "params": params}
    # 2. Canonical text: keys sorted at every depth and no optional spaces, so equal values give equal bytes however
    #    the dicts were built; non-ASCII characters are kept as they are, then the text is encoded once as UTF-8.
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # 3. SHA-256 of those bytes: any change of a value changes the key; 64 hex digits name it.
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (model files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(folder: Path) -> str:
    """SHA-256 over the sorted ``(relative path, file sha256)`` pairs of every file under ``folder``.

    The hash depends on the files' names (as POSIX paths relative to ``folder``) and contents only, not on
    timestamps or the order the file system lists them in.
    """
    folder = Path(folder)
    entries = sorted((path.relative_to(folder).as_posix(), file_sha256(path))
                     for path in folder.rglob("*") if path.is_file())
    digest = hashlib.sha256()
    for relative, sha in entries:
        digest.update(f"{relative}\0{sha}\n".encode())
    return digest.hexdigest()


def path_sha256(path: Path) -> str:
    """:func:`file_sha256` of a file, :func:`tree_sha256` of a folder."""
    return tree_sha256(path) if Path(path).is_dir() else file_sha256(path)
