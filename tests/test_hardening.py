"""Nothing lost, no tracebacks: run folders, `--out`, disk errors, interrupts and corrupt caches."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from zero2hero import assets, cli, corpus, files, reporting
from zero2hero.errors import InputError
from zero2hero.labs import runner as lab_runner
from zero2hero.reporting import LabResult

# ---- a lab that runs in milliseconds, so the run-folder handling is what is tested -----------------


@dataclass
class _FakeConfig:
    quick: bool = True
    text_file: Path | None = None


def _fake_lab(runs: list[str]) -> SimpleNamespace:
    def run(config: _FakeConfig, ctx: reporting.RunContext) -> LabResult:
        runs.append(str(ctx.out_dir))
        (ctx.out_dir / "own.txt").write_text(str(len(runs)))
        return LabResult(lab="ch01_fake", title=f"Fake run {len(runs)}")

    module = SimpleNamespace(Config=_FakeConfig, QUICK={}, run=run)
    return SimpleNamespace(chapter=1, lab_id="ch01_fake", load=lambda: module)


def test_two_runs_in_the_same_second_keep_both_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reporting, "_timestamp", lambda: "20261125-120000")
    lab = _fake_lab([])
    first = lab_runner.run_lab(lab, _FakeConfig(), tmp_path)
    second = lab_runner.run_lab(lab, _FakeConfig(), tmp_path)
    assert first.folder != second.folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261125-120000-ch01_fake", "20261125-120000-ch01_fake-2"]
    assert "Fake run 1" in (first.folder / "report.md").read_text()
    assert "Fake run 2" in (second.folder / "report.md").read_text()
    assert (first.folder / "own.txt").read_text() == "1" and (second.folder / "own.txt").read_text() == "2"


def test_a_run_sweeps_what_a_killed_run_left(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = tmp_path / f".tmp-20261125-120000-ch01_fake-{child.pid}-0123abcd"
    stale.mkdir()
    run = lab_runner.run_lab(_fake_lab([]), _FakeConfig(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [run.folder.name]


# ---- --out: checked before the lab starts; a write error mid-run is one line ------------------------

def _invoke_lab(out: Path, monkeypatch: pytest.MonkeyPatch, runs: list[str]):
    import zero2hero.labs

    monkeypatch.setattr(zero2hero.labs, "get_lab", lambda chapter: _fake_lab(runs))
    return CliRunner().invoke(cli.app, ["lab", "1", "--out", str(out)])


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output


def test_out_that_is_a_file_or_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a_file = tmp_path / "runs.txt"
    a_file.write_text("not a folder")
    runs: list[str] = []
    _one_line_error(_invoke_lab(a_file, monkeypatch, runs), "is a file, not a folder", "--out")
    _one_line_error(_invoke_lab(a_file / "runs", monkeypatch, runs), "a part of the path is a file", "--out")
    assert runs == [], "the lab did not start"


def test_read_only_out_is_refused_before_the_lab_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where chmod does not stop writes: the probe write fails as on a read-only disk.
    def read_only(folder: Path) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder))

    monkeypatch.setattr(files, "_probe", read_only)
    runs: list[str] = []
    _one_line_error(_invoke_lab(tmp_path / "runs", monkeypatch, runs), "Read-only file system", "--out")
    assert runs == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_disk_error_while_writing_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def disk_error(path: Path, text: str) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(reporting, "atomic_write_text", disk_error)
    runs: list[str] = []
    result = _invoke_lab(tmp_path / "runs", monkeypatch, runs)
    _one_line_error(result, os.strerror(code), "report.md", files.os_error(OSError(code, "", "")).hint[:20])
    assert runs, "the lab ran; writing its report failed"
    assert list((tmp_path / "runs").iterdir()) == [], "no half-written run, no temporary folder"


def test_an_os_error_escaping_any_command_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    import zero2hero.doctor

    def denied() -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/root/.cache/zero2hero/x.json")

    monkeypatch.setattr(zero2hero.doctor, "diagnose", denied)
    monkeypatch.setattr(sys, "argv", ["z2h", "doctor"])
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler stays out of pytest
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "/root/.cache/zero2hero/x.json: Permission denied" in err and "folder of your own" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---- interrupts ----------------------------------------------------------------------------------------

def test_sigterm_during_a_lab_leaves_no_temporary_folder(tmp_path: Path) -> None:
    z2h = Path(sys.executable).parent / "z2h"
    out = tmp_path / "runs"
    process = subprocess.Popen([str(z2h), "lab", "1", "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not list(out.glob(".tmp-*")):  # the lab is running once its temporary folder exists
        assert process.poll() is None and time.monotonic() < deadline, "the lab never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert list(out.iterdir()) == [], "neither a temporary folder nor a half-written run is left"
    assert "Traceback" not in stderr


class _FakeSmolLM2:
    """Stands in for the GGUF-loaded model and its tokenizer: conversion without the 16 s read."""

    loads = 0
    fail_with: BaseException | None = None

    def __init__(self) -> None:
        self.hf_quantizer, self.is_quantized, self.config = object(), True, SimpleNamespace()

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> _FakeSmolLM2:
        cls.loads += 1
        return cls()

    def save_pretrained(self, folder: Path) -> None:
        (Path(folder) / "config.json").write_text("{}")
        (Path(folder) / "model.safetensors").write_bytes(b"w" * 1000)
        if _FakeSmolLM2.fail_with is not None:
            raise _FakeSmolLM2.fail_with
        (Path(folder) / "tokenizer.json").write_text("{}")


@pytest.fixture
def fake_conversion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import transformers

    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    monkeypatch.setattr(assets, "asset_path", lambda name: tmp_path / "model.gguf")
    monkeypatch.setattr(transformers, "AutoModelForCausalLM", _FakeSmolLM2)
    monkeypatch.setattr(transformers, "AutoTokenizer", _FakeSmolLM2)
    monkeypatch.setattr(_FakeSmolLM2, "loads", 0)
    monkeypatch.setattr(_FakeSmolLM2, "fail_with", None)
    return tmp_path / "smollm2-135m-instruct-fp32"


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), RuntimeError("disk gone")])
def test_interrupted_conversion_leaves_no_temporary_folder(fake_conversion: Path, interruption: BaseException) -> None:
    _FakeSmolLM2.fail_with = interruption
    with pytest.raises(type(interruption)):
        assets._convert_smollm2_once()
    assert list(fake_conversion.parent.iterdir()) == [], "no 514 MB temporary folder, no half-written model"


def test_conversion_is_done_once_and_sweeps_a_killed_one(fake_conversion: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    killed = fake_conversion.parent / f".tmp-smollm2-135m-instruct-fp32-{child.pid}-0123abcd"
    killed.mkdir()
    assert assets._convert_smollm2_once() == fake_conversion
    assert not killed.exists()
    assert assets._convert_smollm2_once() == fake_conversion
    assert _FakeSmolLM2.loads == 2, "model and tokenizer were read from the GGUF once"


@pytest.mark.parametrize("damage", ["no marker", "truncated weights", "missing weights", "corrupt marker"])
def test_a_broken_converted_folder_is_converted_again(fake_conversion: Path, damage: str) -> None:
    assets._convert_smollm2_once()
    weights, marker = fake_conversion / "model.safetensors", fake_conversion / "complete.json"
    {"no marker": marker.unlink, "missing weights": weights.unlink,
     "truncated weights": lambda: weights.write_bytes(b"w" * 10),
     "corrupt marker": lambda: marker.write_text('{"model.safe')}[damage]()
    assets._convert_smollm2_once()
    assert _FakeSmolLM2.loads == 4, "converted a second time"
    assert weights.stat().st_size == 1000
    assert sorted(p.name for p in fake_conversion.parent.iterdir()) == [fake_conversion.name]


# ---- corrupt caches -------------------------------------------------------------------------------------

def test_corrupt_word_vocabulary_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zero2hero.tokenization import pretrained

    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    monkeypatch.setattr(corpus, "training_text", lambda: "the cat and the dog and the bird")
    path = tmp_path / f"word-vocab-{pretrained.WORD_VOCAB_SIZE}.json"
    try:
        for broken in (b'{"<unk>": 0, "the": 1, "an', b"\xff\xfe{}", b"[1, 2]"):
            path.write_bytes(broken)
            pretrained.corpus_word_vocab.cache_clear()
            vocab = pretrained.corpus_word_vocab()
            assert vocab == {"<unk>": 0, "the": 1, "and": 2, "cat": 3, "dog": 4, "bird": 5}
            assert json.loads(path.read_text(encoding="utf-8")) == vocab, "the cache is rewritten whole"
    finally:
        pretrained.corpus_word_vocab.cache_clear()  # later tests read the real corpus's vocabulary


def test_corrupt_corpus_names_the_file_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    path = corpus.corpus_path()
    prose = b"It is a truth universally acknowledged. " * 30_000
    for content, problem in [(prose + b"\xff\xfe" + prose, "is not valid UTF-8"),
                             (prose + "é".encode()[:1], "ends in the middle of a character"),
                             (prose[:50_000], "holds only 50,000 bytes")]:
        path.write_bytes(content)
        with pytest.raises(InputError, match=problem) as info:
            corpus.load_corpus()
        assert str(path) in str(info.value) and "python -m zero2hero.corpus install --force" in info.value.hint
    path.write_bytes(prose)
    assert corpus.load_corpus().startswith("It is a truth")


def test_corpus_install_force_from_the_command_line(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    calls = []

    def fake_install(force: bool = False) -> Path:
        calls.append(force)
        corpus.corpus_path().write_text("x")
        return corpus.corpus_path()

    monkeypatch.setattr(corpus, "install", fake_install)
    corpus.main(["install", "--force"])
    corpus.main(["install"])
    assert calls == [True, False] and "course corpus:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        corpus.main(["reinstall"])
