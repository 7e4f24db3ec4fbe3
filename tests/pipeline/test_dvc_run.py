"""The pipeline under DVC, end to end on tiny models: caching, a changed parameter, reproducibility, resuming.

One workspace runs from scratch, then again (everything cached), then with another ``generator.steps`` (only that
stage and what depends on it rerun). A second workspace runs from scratch in a process group that is killed while
train_generator trains; run again, it skips the finished stages, resumes from the checkpoint and ends with the
same metrics as the first workspace.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.pipeline.tiny_models import tiny_config_file
from zero2hero.cli_project import project_app
from zero2hero.errors import Zero2HeroError
from zero2hero.pipeline.config import load_config
from zero2hero.pipeline.dag import STAGE_NAMES
from zero2hero.pipeline.driver import ProjectRun, run_project

TRAINING = {"processes": 1}
GENERATOR_STEPS = 40  # enough steps for a checkpoint (every 10) to be written before the kill
KILL_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_config_file(tmp_path_factory.mktemp("tiny"), classifier=TRAINING,
                            generator={**TRAINING, "steps": GENERATOR_STEPS})


@pytest.fixture(scope="module")
def first_run(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectRun, dict]:
    run = run_project(load_config(config_file), tmp_path_factory.mktemp("first") / "ws", progress=lambda line: None)
    return run, json.loads((run.workspace / "reports" / "eval.json").read_text(encoding="utf-8"))


def statuses(run: ProjectRun) -> dict[str, str]:
    return {row.stage: row.status for row in run.rows}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.heavy
def test_a_second_run_reuses_every_stage(first_run: tuple[ProjectRun, dict], config_file: Path) -> None:
    run, _ = first_run
    assert statuses(run) == dict.fromkeys(STAGE_NAMES, "ran")
    bundle = read_json(run.workspace / "bundle" / "serve.json")
    assert bundle["labels"]["sentiment"] == ["great", "other"] and "general" in bundle["labels"]["topic"]
    assert (run.workspace / bundle["generator"]["gguf"]).is_file()
    manifest = read_json(run.manifest)
    assert manifest["config"]["generator"]["steps"] == GENERATOR_STEPS and manifest["metrics"] == run.metrics
    assert set(manifest["stages"]) == set(STAGE_NAMES) and "data/splits/test.jsonl" in manifest["data"]
    assert "models/generator" in manifest["models"] and "export/generator-q8_0.gguf" in manifest["models"]
    assert all(card.is_file() and card.stat().st_size > 200 for card in run.cards)
    again = run_project(load_config(config_file), run.workspace, progress=lambda line: None)
    assert statuses(again) == dict.fromkeys(STAGE_NAMES, "cached")
    assert [row.cache_key for row in again.rows] == [row.cache_key for row in run.rows]
    status = CliRunner().invoke(project_app, ["status", str(run.workspace)])
    assert status.exit_code == 0 and "up to date" in status.output


@pytest.mark.heavy
def test_a_run_killed_in_train_generator_resumes_and_reproduces_the_metrics(
        first_run: tuple[ProjectRun, dict], config_file: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    command = [sys.executable, "-c", "import sys; from zero2hero.cli_project import project_app; "
               "project_app(sys.argv[1:])", "run", str(config_file), "--workspace", str(workspace)]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=os.environ | {"HF_HUB_OFFLINE": "1"})
    try:
        wait_for(lambda: (workspace / "stages" / "train_classifier.json").is_file(), process)
        wait_for(lambda: any((workspace / "checkpoints" / "train_generator").glob("*/last")), process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (workspace / "stages" / "train_generator.json").exists()
    assert not (workspace / "models" / "generator").exists()
    resumed = run_project(load_config(config_file), workspace, progress=lambda line: None)
    expected = dict.fromkeys(STAGE_NAMES, "ran") | dict.fromkeys(STAGE_NAMES[:6], "cached")
    assert statuses(resumed) == expected
    assert read_json(workspace / "stages" / "train_generator.json")["details"]["resumed_from_step"] > 0
    assert not any((workspace / "checkpoints" / "train_generator").iterdir())  # removed once done
    first, first_eval = first_run
    assert read_json(workspace / "reports" / "eval.json")["summary"] == first_eval["summary"]
    assert read_json(resumed.manifest)["data"] == read_json(first.manifest)["data"]


def wait_for(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while not condition():
        assert process.poll() is None, "the run ended before the point where it was to be killed"
        assert time.monotonic() < deadline, "the run did not reach the point where it was to be killed"
        time.sleep(0.02)


@pytest.mark.heavy
def test_a_changed_generator_setting_reruns_only_what_depends_on_it(first_run: tuple[ProjectRun, dict],
                                                                      config_file: Path) -> None:
    run, _ = first_run
    before = read_json(run.manifest)
    changed = run_project(load_config(config_file, overrides=[f"generator.steps={GENERATOR_STEPS + 4}"]),
                          run.workspace, progress=lambda line: None)
    rerun = {"train_generator", "evaluate", "export", "package"}
    assert statuses(changed) == {name: "ran" if name in rerun else "cached" for name in STAGE_NAMES}
    result = CliRunner().invoke(project_app, ["diff", str(tmp_manifest(before, run.workspace)), str(changed.manifest)])
    assert result.exit_code == 0
    assert f"config.generator.steps: {GENERATOR_STEPS} -> {GENERATOR_STEPS + 4}" in result.output
    assert "config.classifier" not in result.output and "data.data/" not in result.output
    assert "stages.train_generator.cache_key" in result.output
    assert "stages.train_classifier" not in result.output


def tmp_manifest(manifest: dict, workspace: Path) -> Path:
    path = workspace.parent / "manifest-before.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path


def test_the_cli_refuses_a_bad_setting_on_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(project_app, ["run", "--set", "generator.steps=0", "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "generator.steps = 0 is not allowed" in lines[0] and "use a whole number" in lines[0]
    assert not (tmp_path / "dvc.yaml").exists()


def test_status_and_diff_refuse_what_is_not_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(project_app, ["status", str(tmp_path)])
    assert result.exit_code == 1 and "not a pipeline workspace" in result.output
    (tmp_path / "m.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(project_app, ["diff", str(tmp_path / "m.json"), str(tmp_path / "m.json")])
    assert result.exit_code == 1 and "not a run manifest" in result.output


def test_prepare_writes_only_what_changed_and_clears_dead_locks(tmp_path: Path) -> None:
    from zero2hero.pipeline.workspace import RWLOCK, prepare

    workspace = tmp_path / "ws"
    assert prepare(load_config(), workspace) == ["params.yaml", "code.yaml", "dvc.yaml"]
    assert (workspace / ".dvc").is_dir() and prepare(load_config(), workspace) == []
    assert prepare(load_config(overrides=["generator.steps=3"]), workspace) == ["params.yaml"]
    assert prepare(load_config(overrides=["generator.steps=3", f"data.source={tmp_path / 'mine.csv'}"]),
                   workspace) == ["params.yaml", "dvc.yaml"]  # the user's file becomes a dep of collect
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    entry = {"pid": os.getpid(), "cmd": "dvc repro"}
    (workspace / RWLOCK).write_text(json.dumps({
        "write": {"/a": {"pid": dead.pid, "cmd": "dvc repro"}, "/b": entry},
        "read": {"/c": [{"pid": dead.pid, "cmd": "dvc repro"}], "/d": [entry]}}), encoding="utf-8")
    prepare(load_config(), workspace)
    assert json.loads((workspace / RWLOCK).read_text(encoding="utf-8")) == {"write": {"/b": entry},
                                                                          "read": {"/d": [entry]}}


def test_a_failing_stage_is_named_with_its_error(tmp_path: Path) -> None:
    source = tmp_path / "mine.csv"
    source.write_text("review,label\nonly one class here,good\nanother review of it,good\n", encoding="utf-8")
    config = load_config(overrides=[f"data.source={source}", "data.text_column=review"])
    with pytest.raises(Zero2HeroError) as caught:
        run_project(config, tmp_path / "ws", progress=lambda line: None)
    assert caught.value.message.startswith("stage collect failed: error: stage collect:")
    assert "at least two classes" in caught.value.message and "finished stages are kept" in caught.value.hint
