"""Loading the review desk from a workspace, its backends, and classifying a file; `z2h serve`'s error path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.app.conftest import LABELS, REVIEW
from zero2hero.app.batch import classify_file
from zero2hero.app.desk import load_desk
from zero2hero.cli_serve import project_batch, serve
from zero2hero.errors import InputError, UnknownNameError

TEXTS = [REVIEW, "Stale biscuits, and the box came crushed.", "Good price, fair value"]


def test_both_backends_write_a_greedy_reply_the_same_way_twice(desk) -> None:
    first = list(desk.reply_pieces(REVIEW, 10))
    assert len(first) > 1 and "".join(first).strip()
    assert list(desk.reply_pieces(REVIEW, 10)) == first  # deterministic: no state kept between replies
    assert desk.health()["backend"] == desk.generator.backend


def test_the_reply_prompt_is_the_pipelines(transformers_desk) -> None:
    import torch

    from zero2hero.pipeline.replies import render_reply_prompt

    tokenizer, model = transformers_desk.generator.tokenizer, transformers_desk.generator.model
    ids = tokenizer(render_reply_prompt(tokenizer, REVIEW), return_tensors="pt", add_special_tokens=False).input_ids
    with torch.inference_mode():
        new = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert "".join(transformers_desk.reply_pieces(REVIEW, 6)) == tokenizer.decode(new[0, ids.shape[1]:],
                                                                                 skip_special_tokens=True)


def test_classify_gives_each_labels_probabilities(transformers_desk) -> None:
    results = transformers_desk.classify(TEXTS)
    assert len(results) == 3 and transformers_desk.classify([]) == []
    for result in results:
        for label, names in LABELS.items():
            assert list(result["probabilities"][label]) == names
            assert sum(result["probabilities"][label].values()) == pytest.approx(1.0, abs=1e-6)
    alone = transformers_desk.classify([TEXTS[1]])[0]  # in a batch it is padded: equal up to rounding
    assert results[1]["predicted"] == alone["predicted"]
    for label in LABELS:
        assert results[1]["probabilities"][label] == pytest.approx(alone["probabilities"][label], abs=1e-5)


def test_a_missing_llamacpp_falls_back_to_transformers_with_a_warning(tiny_workspace: Path, monkeypatch) -> None:
    import zero2hero.llama.llamacpp as llamacpp

    monkeypatch.setattr(llamacpp, "llamacpp_available", lambda: False)
    with pytest.warns(UserWarning, match="pip install llama-cpp-python"):
        desk = load_desk(tiny_workspace, "llamacpp")
    assert desk.generator.backend == "transformers" and "llama-cpp-python" in desk.health()["notes"][0]


def test_bad_workspaces_are_explained(tiny_workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no bundle/serve.json"):
        load_desk(tmp_path)
    with pytest.raises(UnknownNameError, match="unknown backend"):
        load_desk(tiny_workspace, "vllm")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_workspace / "bundle", broken / "bundle")
    (broken / "bundle" / "serve.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_desk(broken)


def test_classify_file_writes_one_line_per_review(transformers_desk, tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    source.write_text("id,text\n" + "".join(f"r{i},{t}\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    assert classify_file(transformers_desk, source, tmp_path / "out.jsonl") == 3
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    expected = transformers_desk.classify(TEXTS)
    assert [(line["id"], line["row"]) for line in lines] == [("r0", 1), ("r1", 2), ("r2", 3)]
    assert [line["predicted"] for line in lines] == [e["predicted"] for e in expected]
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    assert classify_file(transformers_desk, jsonl, tmp_path / "out2.jsonl") == 3
    with pytest.raises(InputError, match="end in .csv or .jsonl"):
        classify_file(transformers_desk, tmp_path / "reviews.txt", tmp_path / "out3.jsonl")
    (tmp_path / "bad.csv").write_text("id,review\n1,good\n", encoding="utf-8")
    with pytest.raises(InputError, match='no "text" column'):
        classify_file(transformers_desk, tmp_path / "bad.csv", tmp_path / "out4.jsonl")


def test_the_commands_fail_on_one_line(tmp_path: Path, tiny_workspace: Path) -> None:
    app = typer.Typer()
    app.command("serve")(serve)
    app.command("batch")(project_batch)
    runner = CliRunner()
    result = runner.invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 1 and "holds no bundle/serve.json" in result.output
    assert len(result.output.strip().splitlines()) == 1
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text(json.dumps({"text": REVIEW}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["batch", str(tiny_workspace), str(reviews), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 0 and "1 review(s) classified" in result.output
