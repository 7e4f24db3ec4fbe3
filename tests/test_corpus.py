from __future__ import annotations

import pytest

from zero2hero import corpus, debian
from zero2hero.errors import AssetMissingError, InputError


def test_corpus_is_installed_and_large_enough() -> None:
    text = corpus.load_corpus()
    assert len(text.encode("utf-8")) >= 10_000_000
    assert "Elizabeth Bennet" in text and "In the beginning God created" in text and "hacker" in text


def test_heldout_is_never_in_training_text() -> None:
    training, heldout = corpus.training_text(), corpus.heldout_text()
    assert len(heldout) / (len(training) + len(heldout)) == pytest.approx(0.05, abs=0.01)
    sample = corpus.heldout_text(2_000)
    assert len(sample) <= 2_000 and sample in heldout
    for line in [ln for ln in sample.splitlines() if len(ln) > 60][:5]:
        assert line not in training
    with pytest.raises(InputError):
        corpus.heldout_text(-1)


def test_missing_corpus_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    with pytest.raises(AssetMissingError, match="not installed") as info:
        corpus.load_corpus()
    assert "make setup" in info.value.hint


def test_install_without_apt_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    with pytest.raises(AssetMissingError, match="no apt-get") as info:
        corpus.install()
    assert "Gutenberg" in info.value.hint and str(tmp_path) in info.value.hint
    assert not corpus.corpus_path().exists()
