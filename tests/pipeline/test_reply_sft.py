"""The reply generator's fine-tune: the loss masked off the prompt, a falling loss, exact resume, one process = two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.assets import load_tokenizer
from zero2hero.errors import InputError
from zero2hero.pipeline.replies import reply_messages, training_text
from zero2hero.pipeline.reply_sft import (
    IGNORE,
    RESULT_FILE,
    ReplySFTConfig,
    encode_records,
    encode_reply,
    fitted_text,
    global_batch,
    main,
    pad_replies,
    train_replies,
)

pytestmark = pytest.mark.usefixtures("one_thread_per_module")

REVIEWS = [("The tea arrived quickly and tastes lovely.", "Thank you! We are glad the tea arrived fast."),
           ("The box was crushed and the cookies broken.", "We are sorry about the box. Please contact us."),
           ("Too expensive for such a small bag.", "We are sorry it did not feel worth the price."),
           ("Delicious coffee, rich flavour.", "Thanks so much, enjoy the coffee!")]
RECORDS = [{"id": f"r{i}", "text": text, "reply": reply, "sentiment": "great", "topic": "taste"}
           for i, (text, reply) in enumerate(REVIEWS * 2)]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_generator_base(tmp_path_factory.mktemp("tiny") / "generator")


def _config(base: Path, **changes: object) -> ReplySFTConfig:
    settings = {"base": str(base), "steps": 6, "batch_size": 4, "max_length": 160, "learning_rate": 1e-2,
                "checkpoint_every": 2, "rank": 4, "alpha": 8.0}
    return ReplySFTConfig(**(settings | changes))


def test_labels_are_minus_100_exactly_on_the_prompt_tokens() -> None:
    tokenizer = load_tokenizer("smollm2")
    review, reply = REVIEWS[0]
    prompt, completion = training_text(tokenizer, review, reply)
    example = encode_reply(tokenizer, prompt, completion, max_length=512)
    # the prompt's ids as the chat template itself tokenizes them (another path than encode_reply's)
    prompt_ids = list(tokenizer.apply_chat_template(reply_messages(review), add_generation_prompt=True, tokenize=True,
                                                    return_dict=False))
    n = len(prompt_ids)
    assert example.input_ids[:n] == prompt_ids
    assert example.labels[:n] == [IGNORE] * n
    assert example.labels[n:] == example.input_ids[n:] and IGNORE not in example.labels[n:]
    assert tokenizer.decode(example.input_ids[n:]) == reply + tokenizer.eos_token  # the reply, then where to stop

    cut = encode_reply(tokenizer, prompt, completion, max_length=n + 3)  # room for three reply tokens
    assert cut.input_ids == example.input_ids[:n + 3] and cut.labels == example.labels[:n + 3]


def test_a_long_review_is_cut_so_the_whole_reply_fits() -> None:
    tokenizer = load_tokenizer("smollm2")
    review, reply = "The tea was fine but the box came late. " * 40, REVIEWS[1][1]
    whole_prompt, completion = training_text(tokenizer, review, reply)
    prompt, fitted_completion = fitted_text(tokenizer, review, reply, max_length=120)
    assert fitted_completion == completion
    example = encode_reply(tokenizer, prompt, fitted_completion, max_length=120)
    assert len(example.input_ids) <= 120
    assert tokenizer.decode([i for i, label in zip(example.input_ids, example.labels, strict=True)
                             if label != IGNORE]) == completion  # no reply token lost
    assert len(prompt) < len(whole_prompt) and "The tea was fine" in prompt
    assert fitted_text(tokenizer, REVIEWS[0][0], REVIEWS[0][1], 512) == training_text(tokenizer, *REVIEWS[0])

    records = [{"text": review, "reply": reply}, {"text": REVIEWS[0][0], "reply": REVIEWS[0][1]}]
    kept, cut, dropped = encode_records(tokenizer, records, max_length=120)
    assert (len(kept), cut, dropped) == (2, 1, 0)
    # both reviews cut to nothing, and the system prompt alone is still longer: both dropped
    assert encode_records(tokenizer, records, max_length=20)[1:] == (2, 2)


def test_padding_is_masked_from_attention_and_from_the_loss() -> None:
    tokenizer = load_tokenizer("smollm2")
    short = encode_reply(tokenizer, *training_text(tokenizer, "Nice.", "Thanks!"), 512)
    long = encode_reply(tokenizer, *training_text(tokenizer, REVIEWS[1][0], REVIEWS[1][1]), 512)
    batch = pad_replies([short, long], pad_token_id=0)
    gap = len(long.input_ids) - len(short.input_ids)
    assert batch["input_ids"].shape == (2, len(long.input_ids))
    assert batch["attention_mask"][0].tolist() == [1] * len(short.input_ids) + [0] * gap
    assert batch["labels"][0].tolist() == short.labels + [IGNORE] * gap
    assert batch["labels"][1].tolist() == long.labels


def test_global_batches_cycle_through_every_example_in_a_fresh_order_each_pass() -> None:
    first_pass = global_batch(0, 4, 8, seed=0) + global_batch(1, 4, 8, seed=0)
    second_pass = global_batch(2, 4, 8, seed=0) + global_batch(3, 4, 8, seed=0)
    assert sorted(first_pass) == sorted(second_pass) == list(range(8))
    assert first_pass != second_pass
    assert global_batch(1, 4, 8, seed=0) == global_batch(1, 4, 8, seed=0)


def test_the_loss_falls_on_a_repeated_example(base: Path, tmp_path: Path) -> None:
    records = [RECORDS[0]] * 4
    config = _config(base, steps=12, learning_rate=5e-2, targets="q_proj,v_proj,o_proj,up_proj,down_proj")
    result = train_replies(records, config, tmp_path / "out", tmp_path / "ck")
    losses = [record["loss"] for record in result.losses]
    assert len(losses) == 12
    # step 1 has learning rate 0 (warm-up), then every step lowers the loss; a random 64-wide model starts near
    # ln(49152) = 10.8 nats and its small tied embeddings bound how far it can fall
    assert losses[0] == pytest.approx(losses[1]) and all(b < a for a, b in zip(losses[1:], losses[2:], strict=False))
    assert losses[-1] < losses[0] - 0.3, losses
    saved = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert saved["r"] == 4 and saved["base_model_name_or_path"] == str(base.resolve())
    assert sorted(saved["target_modules"]) == ["down_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert (tmp_path / "out" / "tokenizer.json").is_file()
    assert 0 < result.trainable_parameters < result.total_parameters


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(base: Path, tmp_path: Path) -> None:
    config = _config(base)
    whole = train_replies(RECORDS, config, tmp_path / "whole", tmp_path / "ck-whole")

    def stop_at_step_3(record: dict) -> None:
        if record["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_replies(RECORDS, config, tmp_path / "resumed", tmp_path / "ck", on_step=stop_at_step_3)
    assert not (tmp_path / "resumed").exists() and (tmp_path / "ck" / "last").is_dir()
    resumed = train_replies(RECORDS, config, tmp_path / "resumed", tmp_path / "ck")
    assert resumed.resumed_from_step == 2  # the checkpoint of step 2; step 3 is trained again
    assert [r["loss"] for r in resumed.losses] == pytest.approx([r["loss"] for r in whole.losses], abs=1e-6)
    a = load_file(tmp_path / "whole" / "adapter_model.safetensors")
    b = load_file(tmp_path / "resumed" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and len(a) == 8  # A and B of q_proj and v_proj in 2 layers
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-7)

    other = _config(base, learning_rate=5e-3)
    (tmp_path / "other").mkdir()
    with pytest.raises(InputError, match="another run"):  # a checkpoint of other settings is not resumed
        train_replies(RECORDS, other, tmp_path / "other" / "out", tmp_path / "ck")


def _run_entry_point(tmp_path: Path, name: str, config: ReplySFTConfig, launcher: list[str]) -> dict:
    (tmp_path / f"{name}.json").write_text(json.dumps(asdict(config)))
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    command = [*launcher, "-m", "zero2hero.pipeline.reply_sft", "--config", str(tmp_path / f"{name}.json"),
               "--data", str(data), "--out", str(tmp_path / name / "out"), "--checkpoint", str(tmp_path / name)]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / name / RESULT_FILE).read_text())


@pytest.mark.heavy
def test_two_processes_follow_one_process_loss_curve(base: Path, tmp_path: Path) -> None:
    config = _config(base, steps=5, checkpoint_every=10)
    one = _run_entry_point(tmp_path, "one", config, [sys.executable])
    two = _run_entry_point(tmp_path, "two", config,
                           [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"])
    one_losses, two_losses = [r["loss"] for r in one["losses"]], [r["loss"] for r in two["losses"]]
    assert len(one_losses) == 5 and len(set(one_losses)) == 5  # the loss moves: not constants compared
    assert two_losses == pytest.approx(one_losses, abs=1e-4)
    a = load_file(tmp_path / "one" / "out" / "adapter_model.safetensors")
    b = load_file(tmp_path / "two" / "out" / "adapter_model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=1e-5)


def test_the_entry_point_reports_a_bad_configuration_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text(json.dumps(RECORDS[0]) + "\n")
    for settings, words in (({"steps": 0}, "generator.steps must be"), ({"step": 1}, "unexpected keyword")):
        (tmp_path / "config.json").write_text(json.dumps(settings))
        with pytest.raises(SystemExit) as exit_:
            main(["--config", str(tmp_path / "config.json"), "--data", str(tmp_path / "data.jsonl"),
                  "--out", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "ck")])
        message = str(exit_.value.code)
        assert message.startswith("error: ") and words in message and "\n" not in message
