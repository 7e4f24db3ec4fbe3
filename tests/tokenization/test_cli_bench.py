from __future__ import annotations

import json

from typer.testing import CliRunner

from zero2hero.cli import app

runner = CliRunner()


def test_tokenize_json_has_every_tokenizer_and_they_agree() -> None:
    result = runner.invoke(app, ["tokenize", "Naïve tokenizers split 東京 ✨ differently.", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data) == 6
    assert data["ours: BPE, SmolLM2 vocab"]["ids"] == data["HF: SmolLM2 tokenizer"]["ids"]
    assert data["ours: WordPiece, MiniLM vocab"]["ids"] == data["HF: MiniLM tokenizer"]["ids"]
    assert "".join(data["characters (code points)"]["pieces"]) == "Naïve tokenizers split 東京 ✨ differently."


def test_tokenize_bad_input() -> None:
    assert runner.invoke(app, ["tokenize"]).exit_code == 1
    result = runner.invoke(app, ["tokenize", "bad \ud800"])
    assert result.exit_code == 1 and "surrogate" in result.output
