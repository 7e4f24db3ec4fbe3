"""Writing files so that nothing is ever half-written: a temporary sibling, then one atomic rename.

Every file or folder zero2hero writes (run directories, caches, checkpoints, status files) goes
through these helpers, so an interrupted command leaves the old version or the new one, never a mix.

A temporary name is ``.tmp-<final name>-<pid>-<random>``: the process id says who owns it, so
:func:`sweep_stale_temporaries` can remove what a killed process left behind (its owner is no longer
running) without touching what a running command is writing.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zero2hero.errors import InputError, Zero2HeroError

TEMP_PREFIX = ".tmp-"  # every temporary file or folder starts with this, so stale ones can be found
STALE_AFTER_S = 24 * 3600  # a temporary this old is stale even if its pid now belongs to another process
_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}.+-(?P<pid>\d+)-[0-9a-f]{{8}}$")  # see _temp_path


def _temp_path(final: Path) -> Path:
    """A new temporary name beside ``final``. It is created exclusively (never reused) with the default
    permissions, so a folder or file keeps the usual rights once renamed (``tempfile`` would make it private)."""
    return final.parent / f"{TEMP_PREFIX}{final.name}-{os.getpid()}-{secrets.token_hex(4)}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def temporary_dir(final: Path) -> Iterator[Path]:
    """Yield a new temporary sibling folder of ``final``; remove it on exit unless the block moved it away.

    Removal happens on any exception, Ctrl-C included (and SIGTERM, which ``z2h`` turns into Ctrl-C).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(final)
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_into_place(tmp: Path, final: Path, unique: bool = False) -> Path:
    """Rename the finished folder ``tmp`` to ``final`` and return the name it got.

    An existing non-empty ``final`` is never replaced: without ``unique`` that is an error; with it the
    folder becomes ``final-2``, ``final-3``, ... Each candidate name is claimed with ``mkdir`` (which
    fails if the name exists, even when two processes race for it), then the rename replaces that
    empty claimed folder in one step.
    """
    if not unique:
        tmp.rename(final)  # fails if final exists and is not empty: nothing is overwritten
        return final
    for n in range(1, 10_000):
        candidate = final if n == 1 else final.with_name(f"{final.name}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        try:
            tmp.rename(candidate)  # POSIX rename replaces an empty folder atomically
        except BaseException:
            candidate.rmdir()
            raise
        return candidate
    raise FileExistsError(errno.EEXIST, "no free folder name", str(final))


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``final``; rename it to ``final`` only if the block succeeds.

    On any exception (Ctrl-C included) the temporary folder is removed. An existing non-empty ``final``
    is never replaced: that is an error, so that nothing already written is lost.
    """
    with temporary_dir(final) as tmp:
        yield tmp
        move_into_place(tmp, Path(final))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def sweep_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` that no running command is writing.

    Only names this module makes (``.tmp-<name>-<pid>-<random>``) are considered. One is stale when the
    process that created it is no longer running (it was killed before it could clean up), or when it
    is older than a day (its pid may since have been given to another process). Returns what was removed.
    """
    removed = []
    for path in Path(folder).glob(f"{TEMP_PREFIX}*"):
        match = _TEMP_NAME.match(path.name)
        if match is None:
            continue
        try:
            age = time.time() - path.lstat().st_mtime
        except FileNotFoundError:  # its owner just finished with it
            continue
        if _is_running(int(match["pid"])) and age < STALE_AFTER_S:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def ensure_writable_dir(folder: Path, option: str = "--out") -> Path:
    """Create ``folder`` if needed and prove a file can be written in it (a small probe, removed at once).

    Raises :class:`InputError` naming the folder and the fix when it is a file, lies under a file,
    is read-only or sits on a full disk.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder", f"pass a folder with {option}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _probe(folder)
    except OSError as err:
        raise InputError(f"cannot write into {folder}: {_reason(err)}", f"pass a folder you can write to with "
                                                                         f"{option}") from None
    return folder


def _probe(folder: Path) -> None:
    """Write a few bytes to a new file in ``folder`` and remove it (raises the ``OSError`` a real write would)."""
    probe = _temp_path(folder / "write-probe")
    try:
        with open(probe, "xb") as handle:
            handle.write(b"z2h")
    finally:
        probe.unlink(missing_ok=True)


def _reason(err: OSError) -> str:
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of the path is a file, not a folder"
    return err.strerror or str(err)


_HINTS = {
    errno.ENOSPC: "free some disk space, or write elsewhere (e.g. --out on another disk, Z2H_CACHE for the cache)",
    errno.EROFS: "the disk is read-only: choose a folder on a writable disk (e.g. --out, Z2H_CACHE)",
    errno.EACCES: "you may not write there: choose a folder of your own (e.g. --out, Z2H_CACHE)",
    errno.EPERM: "you may not write there: choose a folder of your own (e.g. --out, Z2H_CACHE)",
    errno.ENOTDIR: "a part of that path is a file: remove it or choose another folder",
    errno.EEXIST: "a file is in the way: remove it or choose another folder",
    errno.ENOENT: "check that the path exists",
}


def os_error(err: OSError) -> Zero2HeroError:
    """A one-line error for an ``OSError``: the path, what the system said, and what to do."""
    path = f"{err.filename}: " if err.filename else ""
    return Zero2HeroError(f"{path}{err.strerror or err}", _HINTS.get(err.errno, "check the path and try again"))
