"""The manifest diff (why two runs differ) and the manifest's own parts: hashes, versions, hardware, metrics."""

from __future__ import annotations

import json
from pathlib import Path

from zero2hero.pipeline.cache_key import file_sha256, tree_sha256
from zero2hero.pipeline.manifest import data_hashes, git_commit, hardware, library_versions, model_hashes, read_metrics
from zero2hero.pipeline.manifest_diff import ABSENT, VOLATILE_KEYS, Change, diff_manifests, explain

BEFORE = {
    "config": {"classifier": {"rank": 8, "targets": "query,value"}, "seed": 0},
    "libraries": {"torch": "2.13.0"},
    "stages": {"collect": {"cache_key": "k1", "seconds": 1.5, "status": "ran", "started_at": "t0"}},
    "metrics": {"sentiment_accuracy": 0.8},
    "data": {"data/raw.jsonl": "aaa"},
    "tags": ["a", "b"],
    "finished_at": "2026-01-01T00:00:00",
}


def after(**changes: object) -> dict:
    manifest = json.loads(json.dumps(BEFORE))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value
    return manifest


def test_identical_manifests_and_volatile_keys_give_no_change() -> None:
    assert diff_manifests(BEFORE, json.loads(json.dumps(BEFORE))) == []
    changed = after(finished_at="2026-02-02", stages__collect=dict(BEFORE["stages"]["collect"], seconds=9.0,
                                                                   status="cached", started_at="t1"))
    assert diff_manifests(BEFORE, changed) == []
    assert VOLATILE_KEYS == frozenset({"started_at", "seconds", "finished_at", "status"})


def test_nested_values_are_reported_by_dotted_path_sorted() -> None:
    changed = after(config__classifier__rank=16, metrics__sentiment_accuracy=0.85, libraries__torch="2.14.0")
    assert diff_manifests(BEFORE, changed) == [
        Change("config.classifier.rank", 8, 16),
        Change("libraries.torch", "2.13.0", "2.14.0"),
        Change("metrics.sentiment_accuracy", 0.8, 0.85),
    ]


def test_lists_are_compared_whole_and_one_sided_keys_show_absent() -> None:
    changed = after(tags=["a", "c"])
    del changed["data"]["data/raw.jsonl"]
    changed["data"]["data/clean.jsonl"] = "bbb"
    assert diff_manifests(BEFORE, changed) == [
        Change("data.data/clean.jsonl", ABSENT, "bbb"),
        Change("data.data/raw.jsonl", "aaa", ABSENT),
        Change("tags", ["a", "b"], ["a", "c"]),
    ]
    assert ABSENT == "<absent>"


def test_a_custom_ignore_set_and_explain_lines() -> None:
    changed = after(config__seed=1, stages__collect=dict(BEFORE["stages"]["collect"], seconds=3.0))
    changes = diff_manifests(BEFORE, changed, ignore=frozenset())
    assert [c.path for c in changes] == ["config.seed", "stages.collect.seconds"]
    assert explain(changes) == ["config.seed: 0 -> 1", "stages.collect.seconds: 1.5 -> 3.0"]


def test_hashes_cover_data_files_and_model_folders(tmp_path: Path) -> None:
    (tmp_path / "data" / "splits").mkdir(parents=True)
    (tmp_path / "data" / "raw.jsonl").write_text('{"id": "row-000000"}\n', encoding="utf-8")
    (tmp_path / "data" / "splits" / "train.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "models" / "generator").mkdir(parents=True)
    (tmp_path / "models" / "generator" / "adapter.bin").write_bytes(b"\x01\x02")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "generator-q8_0.gguf").write_bytes(b"GGUF")
    assert data_hashes(tmp_path) == {"data/raw.jsonl": file_sha256(tmp_path / "data" / "raw.jsonl"),
                                     "data/splits/train.jsonl": file_sha256(tmp_path / "data/splits/train.jsonl")}
    gguf = tmp_path / "export" / "generator-q8_0.gguf"
    assert model_hashes(tmp_path) == {"models/generator": tree_sha256(tmp_path / "models" / "generator"),
                                      "export/generator-q8_0.gguf": file_sha256(gguf)}


def test_metrics_come_from_the_evaluations_summary(tmp_path: Path) -> None:
    assert read_metrics(tmp_path) == {}
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "eval.json").write_text(json.dumps({"summary": {"sentiment_accuracy": 0.9}, "x": 1}),
                                                    encoding="utf-8")
    assert read_metrics(tmp_path) == {"sentiment_accuracy": 0.9}


def test_environment_parts(tmp_path: Path) -> None:
    versions = library_versions()
    assert {"python", "torch", "transformers", "peft", "dvc"} <= set(versions)
    machine = hardware()
    assert machine["cores"] >= 1 and machine["ram_gb"] > 0 and machine["cpu"] and "gpu" in machine
    assert git_commit(tmp_path) is None  # not a git checkout
    commit = git_commit()
    assert commit is None or len(commit) == 40
