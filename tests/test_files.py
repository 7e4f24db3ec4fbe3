"""zero2hero.files: atomic writes, folders that never replace one another, stale temporaries, writable checks."""

from __future__ import annotations

import errno
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zero2hero import files
from zero2hero.errors import InputError


def test_atomic_dir_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    for interruption in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(interruption)), files.atomic_dir(tmp_path / "run") as tmp:
            (tmp / "half.txt").write_text("x")
            raise interruption
        assert list(tmp_path.iterdir()) == []
    with files.atomic_dir(tmp_path / "run") as tmp:
        (tmp / "whole.txt").write_text("x")
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and (tmp_path / "run" / "whole.txt").exists()


def test_atomic_dir_never_replaces_a_folder_with_content(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.md").write_text("first")
    with pytest.raises(OSError), files.atomic_dir(tmp_path / "run") as tmp:
        (tmp / "report.md").write_text("second")
    assert (tmp_path / "run" / "report.md").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "the temporary folder is removed"


def test_unique_move_keeps_every_folder(tmp_path: Path) -> None:
    names = []
    for text in ("one", "two", "three"):
        with files.temporary_dir(tmp_path / "run") as tmp:
            (tmp / "report.md").write_text(text)
            names.append(files.move_into_place(tmp, tmp_path / "run", unique=True).name)
    assert names == ["run", "run-2", "run-3"]
    assert [(tmp_path / n / "report.md").read_text() for n in names] == ["one", "two", "three"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def _publish_after(barrier, root: str) -> None:  # a multiprocessing barrier
    with files.temporary_dir(Path(root) / "run") as tmp:
        (tmp / "owner.txt").write_text(str(os.getpid()))
        barrier.wait()
        files.move_into_place(tmp, Path(root) / "run", unique=True)


def test_two_processes_racing_for_one_name_get_two_folders(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        root = tmp_path / str(round_)
        barrier = context.Barrier(2)
        workers = [context.Process(target=_publish_after, args=(barrier, str(root))) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert [w.exitcode for w in workers] == [0, 0]
        folders = sorted(p.name for p in root.iterdir())
        assert folders == ["run", "run-2"]
        owners = {(root / name / "owner.txt").read_text() for name in folders}
        assert owners == {str(w.pid) for w in workers}, "each process has its own folder"


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "status.json"
    files.atomic_write_text(path, "old")
    real_fdopen = os.fdopen

    def fail_midway(fd, mode):
        handle = real_fdopen(fd, mode)
        handle.write(b"ha")
        handle.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fdopen", fail_midway)
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["status.json"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_what_no_running_command_writes(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    killed_run = tmp_path / f".tmp-20261125-101010-ch01_text-{dead}-0123abcd"
    killed_file = tmp_path / f".tmp-check-status.json-{dead}-89abcdef"
    running = tmp_path / f".tmp-20261125-101010-ch02_x-{alive}-0123abcd"
    old = tmp_path / f".tmp-smollm2-135m-instruct-fp32-{alive}-ffff0000"
    learners_own = tmp_path / ".tmp-my-notes"
    for folder in (killed_run, running, old, learners_own):
        folder.mkdir()
        (folder / "report.md").write_text("x")
    killed_file.write_text("{")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    removed = files.sweep_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([killed_run, killed_file, old])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, learners_own.name])


def test_temporary_names_carry_the_pid_the_sweep_reads(tmp_path: Path) -> None:
    with files.temporary_dir(tmp_path / "run") as tmp:
        assert files.sweep_stale_temporaries(tmp_path) == [], "a folder being written is left alone"
        assert f"-{os.getpid()}-" in tmp.name
    assert list(tmp_path.iterdir()) == []


def test_writable_dir_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert files.ensure_writable_dir(tmp_path / "new" / "runs").is_dir()
    assert list((tmp_path / "new" / "runs").iterdir()) == [], "the probe file is removed"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        files.ensure_writable_dir(a_file)
    with pytest.raises(InputError, match="a part of the path is a file") as info:
        files.ensure_writable_dir(a_file / "runs")
    assert str(a_file / "runs") in str(info.value) and "--out" in info.value.hint

    def read_only(folder: Path) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder))

    monkeypatch.setattr(files, "_probe", read_only)
    with pytest.raises(InputError, match="Read-only file system"):
        files.ensure_writable_dir(tmp_path)


@pytest.mark.parametrize(("code", "hint"), [(errno.ENOSPC, "free some disk space"), (errno.EROFS, "read-only"),
                                            (errno.EACCES, "folder of your own")])
def test_os_error_is_one_line_with_path_and_hint(code: int, hint: str) -> None:
    error = files.os_error(OSError(code, os.strerror(code), "/data/runs/x/report.md"))
    text = str(error)
    assert text.startswith(f"/data/runs/x/report.md: {os.strerror(code)}") and hint in error.hint
    assert "\n" not in text
