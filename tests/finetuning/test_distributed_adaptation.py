"""Chapter 5's torchrun entry point with ``--adaptation``: a parameter-efficient method named by a JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.finetuning.distributed import adaptation_from_json, main
from zero2hero.finetuning.train_config import TrainConfig
from zero2hero.lora.finetune_adaptation import LoRAAdaptation

LORA = "zero2hero.lora.finetune_adaptation:LoRAAdaptation"


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    splits = make_splits(24, 8)
    data = tmp_path / "splits.json"
    data.write_text(json.dumps({name: [asdict(e) for e in getattr(splits, name)] for name in ("train", "validation")}
                               | {"label_names": splits.label_names}))
    config = TrainConfig(model=str(write_tiny_bert(tmp_path / "model", dropout=0.0)), epochs=1, batch_size=8,
                         learning_rate=5e-3, eval_every_steps=3, device="cpu", output_dir=tmp_path / "run")
    (tmp_path / "config.json").write_text(json.dumps(asdict(config) | {"output_dir": str(config.output_dir)}))
    return data, tmp_path / "config.json"


def test_the_entry_point_trains_with_the_named_adaptation(tmp_path: Path) -> None:
    data, config = _inputs(tmp_path)
    spec = tmp_path / "lora.json"
    spec.write_text(json.dumps({"class": LORA, "settings": {"rank": 2, "alpha": 4, "targets": "query,value"}}))
    main(["--config", str(config), "--data", str(data), "--adaptation", str(spec)])
    adapter = json.loads((tmp_path / "run" / "best" / "adapter_config.json").read_text())
    assert adapter["r"] == 2 and adapter["lora_alpha"] == 4 and sorted(adapter["target_modules"]) == ["query",
                                                                                                        "value"]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["trainable_parameters"] < 10_000  # the LoRA matrices and the head, not the whole encoder


def test_the_adaptation_file_makes_the_class_it_names(tmp_path: Path) -> None:
    spec = tmp_path / "lora.json"
    spec.write_text(json.dumps({"class": LORA, "settings": {"rank": 4, "targets": " query, value"}}))
    assert adaptation_from_json(spec) == LoRAAdaptation(rank=4, targets="query,value")


@pytest.mark.parametrize(("spec", "words"), [
    ({"class": "zero2hero.lora.finetune_adaptation"}, "cannot make the adaptation"),  # no ":Name"
    ({"class": "zero2hero.lora.nowhere:LoRAAdaptation"}, "cannot make the adaptation"),
    ({"class": LORA, "settings": {"rank": 0}}, "rank"),  # the method's own check
])
def test_a_bad_adaptation_file_is_reported_in_one_line(tmp_path: Path, spec: dict, words: str) -> None:
    data, config = _inputs(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(config), "--data", str(data), "--adaptation", str(tmp_path / "bad.json")])
    message = str(exit_.value.code)
    assert message.startswith("error: ") and words in message and "\n" not in message
    assert not (tmp_path / "run").exists()
