"""Every run records the corpus it read: its SHA-256 and the Debian package versions it was built from."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from zero2hero import corpus
from zero2hero.debian import DebianFetch
from zero2hero.provenance import file_sha256
from zero2hero.reporting import environment

PACKAGES = {"r-cran-janeaustenr": "1.0.0-2", "bible-kjv": "4.38", "bible-kjv-text": "4.38",
            "jargon-text": "4.4.7-3.2"}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_install_records_the_package_versions(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_fetch(names: tuple[str, ...], folder: Path, without_apt_hint: str) -> DebianFetch:
        assert set(names) == set(PACKAGES)
        return DebianFetch(folder / "root", dict(PACKAGES))  # what fetching real packages reports (test_debian)

    monkeypatch.setattr(corpus, "fetch_packages", fake_fetch)
    for part in ("_austen", "_kjv", "_jargon"):
        monkeypatch.setattr(corpus, part, lambda root, part=part: f"text of {part}")
    assert corpus.recorded_package_versions() is None
    path = corpus.install(force=True)
    assert path.read_text().startswith("text of _austen")
    assert corpus.recorded_package_versions() == PACKAGES
    assert json.loads(corpus.sources_path().read_text()) == {"debian_packages": PACKAGES}
    assert not list(cache.glob(".tmp-*")), "written atomically: no temporary file left behind"


def test_environment_records_corpus_checksum_and_packages(cache: Path) -> None:
    assert environment()["corpus"] == {"installed": False}
    text = "a corpus of a few words\n" * 1000
    corpus.corpus_path().write_text(text, encoding="utf-8")
    corpus.sources_path().write_text(json.dumps({"debian_packages": PACKAGES}))
    recorded = environment()["corpus"]
    assert recorded == {"installed": True, "size_bytes": len(text), "debian_packages": PACKAGES,
                        "sha256": hashlib.sha256(text.encode()).hexdigest()}
    corpus.sources_path().write_text("{not json")
    assert environment()["corpus"]["debian_packages"] is None


def test_checksum_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"first version")
    assert file_sha256(path) == hashlib.sha256(b"first version").hexdigest()
    cache = tmp_path / "corpus.txt.sha256.json"
    stored = json.loads(cache.read_text())
    cache.write_text(json.dumps({**stored, "sha256": "from the cache"}))
    assert file_sha256(path) == "from the cache"  # unchanged file: the file is not read again
    path.write_bytes(b"second version!")
    os.utime(path, ns=(1, 1))
    assert file_sha256(path) == hashlib.sha256(b"second version!").hexdigest()
    cache.write_text("damaged")
    assert file_sha256(path) == hashlib.sha256(b"second version!").hexdigest()
