"""Cache keys: each input (deps, params, code) changes the key; nothing else does. File and tree hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from zero2hero.pipeline.cache_key import file_sha256, stage_cache_key, tree_sha256
from zero2hero.pipeline.config import load_config, to_params
from zero2hero.pipeline.dag import STAGES, code_fingerprints, dvc_yaml, module_closure

DEPS = {"data/splits": "a" * 64}
PARAMS = {"generator": {"steps": 16, "rank": 8}, "seed": 0}


def test_the_key_is_the_sha256_of_the_canonical_json() -> None:
    canonical = ('{"code":"c0de","deps":{"data/splits":"' + "a" * 64 + '"},'
                 '"params":{"generator":{"rank":8,"steps":16},"seed":0}}')
    assert stage_cache_key(DEPS, PARAMS, "c0de") == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_key_is_stable_and_ignores_key_order() -> None:
    reordered = {"seed": 0, "generator": {"rank": 8, "steps": 16}}
    assert stage_cache_key(DEPS, PARAMS, "c0de") == stage_cache_key(dict(DEPS), reordered, "c0de")


def test_each_input_changes_the_key() -> None:
    key = stage_cache_key(DEPS, PARAMS, "c0de")
    changed = [
        stage_cache_key({"data/splits": "b" * 64}, PARAMS, "c0de"),
        stage_cache_key({**DEPS, "models/generator": "c" * 64}, PARAMS, "c0de"),
        stage_cache_key(DEPS, {"generator": {"steps": 17, "rank": 8}, "seed": 0}, "c0de"),
        stage_cache_key(DEPS, {**PARAMS, "seed": 1}, "c0de"),
        stage_cache_key(DEPS, PARAMS, "c0df"),
    ]
    assert key not in changed and len(set(changed)) == len(changed)


def test_file_and_tree_hashes(tmp_path: Path) -> None:
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "a.txt").write_bytes(b"hello")
    (tmp_path / "m" / "sub" / "b.bin").write_bytes(b"\x00\x01")
    assert file_sha256(tmp_path / "m" / "a.txt") == hashlib.sha256(b"hello").hexdigest()
    expected = hashlib.sha256(b"".join(f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode()
                                       for name, data in sorted([("a.txt", b"hello"), ("sub/b.bin", b"\x00\x01")])))
    tree = tree_sha256(tmp_path / "m")
    assert tree == expected.hexdigest()
    (tmp_path / "m" / "sub" / "b.bin").rename(tmp_path / "m" / "sub" / "c.bin")
    assert tree_sha256(tmp_path / "m") != tree  # a renamed file changes the tree


def test_code_fingerprints_follow_each_stages_imports() -> None:
    fingerprints = code_fingerprints()
    assert list(fingerprints) == [stage.name for stage in STAGES]
    assert all(len(value) == 64 for value in fingerprints.values()) and len(set(fingerprints.values())) == len(STAGES)
    closure = {path.as_posix().split("zero2hero/", 1)[1] for path in module_closure("zero2hero.pipeline.stages.clean")}
    assert {"pipeline/stages/clean.py", "finetuning/splits.py", "text/normalize.py"} <= closure
    assert "pipeline/stages/collect.py" not in closure


def test_dvc_yaml_lists_params_code_deps_and_outs(tmp_path: Path) -> None:
    params = to_params(load_config(overrides=[f"data.source={tmp_path / 'mine.csv'}"]))
    stages = dvc_yaml(params)["stages"]
    assert list(stages) == [stage.name for stage in STAGES]
    assert stages["collect"]["deps"] == [str(tmp_path / "mine.csv")]
    assert stages["train_generator"]["params"] == ["generator", "seed", {"code.yaml": ["train_generator"]}]
    assert stages["train_generator"]["outs"] == [{"models/generator": {"cache": False}}]
    assert stages["split"]["outs"] == ["data/splits"] and stages["label"]["deps"] == ["data/clean.jsonl"]
    assert all(entry["cmd"] == f"python -m zero2hero.pipeline.stage {name}" for name, entry in stages.items())
    json.dumps(stages)  # plain data, as DVC reads it
