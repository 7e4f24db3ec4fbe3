"""The project config: the shipped file, the quick block, overrides, validation with hints, relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.pipeline.config import DEFAULT_CONFIG, ProjectConfig, load_config, to_params


def write(folder: Path, settings: dict) -> Path:
    path = folder / "desk.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def test_the_shipped_config_is_the_full_size_default() -> None:
    config = load_config()
    assert config.name == "review-desk" and not config.quick and config.run_name == "review-desk"
    shipped = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert config.data.max_reviews is None and config.generator.steps == shipped["generator"]["steps"]
    assert config.classifier.base == "minilm" and config.generator.base == "smollm2"
    assert config.classifier.processes == 2 and config.export.gguf_format == "q8_0"


def test_quick_applies_the_files_quick_block_and_names_the_run() -> None:
    quick_block = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))["quick"]
    config = load_config(quick=True)
    assert config.quick and config.run_name == "review-desk-quick"
    assert config.data.max_reviews == quick_block["data.max_reviews"] == 400
    assert config.generator.steps == quick_block["generator.steps"] < load_config().generator.steps
    assert config.evaluate.reply_examples == quick_block["evaluate.reply_examples"]


def test_overrides_are_typed_by_yaml_and_win_over_quick() -> None:
    config = load_config(quick=True, overrides=["generator.steps=3", "generator.learning_rate=2e-4", "seed=7",
                                                "data.max_reviews=null", "serve.backend=transformers"])
    assert config.generator.steps == 3 and isinstance(config.generator.steps, int)
    assert config.generator.learning_rate == pytest.approx(2e-4)
    assert config.seed == 7 and config.data.max_reviews is None and config.serve.backend == "transformers"


def test_to_params_has_one_key_per_section(tmp_path: Path) -> None:
    params = to_params(load_config(overrides=["classifier.rank=4"]))
    assert list(params) == ["name", "seed", "data", "clean", "labels", "split", "classifier", "generator",
                            "evaluate", "export", "serve"]
    assert params["classifier"]["rank"] == 4 and params["generator"]["targets"] == "q_proj,v_proj"


@pytest.mark.parametrize(("override", "words"), [
    ("generator.steps=0", "generator.steps"),
    ("classifier.learning_rate=-1", "classifier.learning_rate"),
    ("split.dev_share=1.5", "split.dev_share"),
    ("split.test_share=0.85", "split.dev_share + split.test_share"),
    ("clean.max_chars=10", "clean.max_chars"),
    ("export.gguf_format=q3_k", "export.gguf_format"),
    ("serve.backend=vllm", "serve.backend"),
    ("data.max_reviews=true", "data.max_reviews"),
    ("name=my desk", "name"),
])
def test_bad_values_are_refused_naming_the_setting_and_what_is_allowed(override: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        load_config(overrides=[override])
    assert words in caught.value.message and caught.value.hint.startswith("use ")


def test_unknown_names_and_malformed_overrides_are_refused() -> None:
    with pytest.raises(UnknownNameError, match="generator.stepz") as caught:
        load_config(overrides=["generator.stepz=3"])
    assert "steps" in caught.value.hint
    with pytest.raises(UnknownNameError, match="trainer"):
        load_config(overrides=["trainer.steps=3"])
    with pytest.raises(InputError, match="section.key=value"):
        load_config(overrides=["generator.steps"])


def test_a_missing_or_broken_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(broken)


def test_relative_paths_are_read_from_the_config_files_folder(tmp_path: Path) -> None:
    (tmp_path / "models" / "enc").mkdir(parents=True)
    path = write(tmp_path, {"name": "mine", "data": {"source": "reviews.csv"},
                            "labels": {"topics": "rules/t.yaml", "replies": "builtin"},
                            "classifier": {"base": "models/enc"}, "generator": {"base": "smollm2"}})
    config = load_config(path)
    assert config.data.source == str(tmp_path.resolve() / "reviews.csv")
    assert config.labels.topics == str(tmp_path.resolve() / "rules" / "t.yaml") and config.labels.replies == "builtin"
    assert config.classifier.base == str(tmp_path.resolve() / "models" / "enc") and config.generator.base == "smollm2"


def test_sections_are_validated_when_built_directly() -> None:
    with pytest.raises(InputError, match="seed"):
        ProjectConfig(seed=-1)
