"""`generate_text`: both engines agree, stream their text, and refuse bad requests before loading weights."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from typer.testing import CliRunner

from zero2hero import assets
from zero2hero.cli import app
from zero2hero.errors import InputError
from zero2hero.transformer.generate import SamplingConfig, generate
from zero2hero.transformer.text_generation import generate_text

CONTEXT = 64


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer GPT-2 with a 50-word vocabulary ("w0" … "w49", split on white space), saved to a folder."""
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=50, n_positions=CONTEXT, bos_token_id=None,
                        eos_token_id=None)
    GPT2LMHeadModel(config).save_pretrained(folder)
    word_level = Tokenizer(models.WordLevel({f"w{i}": i for i in range(50)}, unk_token="w0"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=word_level).save_pretrained(folder)
    return folder


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model's weights fails the test: the request must be refused before."""
    def refuse(name: str) -> None:
        raise AssertionError(f"the weights of {name} were loaded")
    monkeypatch.setattr(assets, "load_causal_lm", refuse)


@pytest.mark.parametrize("engine", ["ours", "hf"])
def test_engines_agree_and_stream_their_text(tiny_gpt2: Path, engine: str) -> None:
    model = GPT2LMHeadModel.from_pretrained(tiny_gpt2).eval()
    expected = generate(model, [3, 4, 5], SamplingConfig(max_new_tokens=12))
    pieces: list[str] = []
    result = generate_text("w3 w4 w5", str(tiny_gpt2), engine, sampling=SamplingConfig(max_new_tokens=12),
                           on_text=pieces.append)
    assert result.prompt_ids == [3, 4, 5] and result.generated_ids == expected
    assert result.text == " ".join(f"w{i}" for i in expected)
    assert "".join(pieces).strip() == result.text and len(pieces) > 1
    assert result.engine == engine and result.tokens_per_s > 0
    assert result.prefill_tokens_per_s > 0 and result.decode_tokens_per_s > 0
    assert json.loads(result.to_json())["generated_ids"] == expected


@pytest.mark.parametrize("engine", ["ours", "hf"])
def test_over_long_requests_are_refused_before_loading(tiny_gpt2: Path, engine: str, no_weights: None) -> None:
    with pytest.raises(InputError, match=r"3 tokens\) \+ 62 new tokens = 65 tokens, 1 more than .* context of 64"):
        generate_text("w1 w2 w3", str(tiny_gpt2), engine, sampling=SamplingConfig(max_new_tokens=62))
    with pytest.raises(InputError, match="100003 tokens, 99939 more than"):
        generate_text("w1 w2 w3", str(tiny_gpt2), engine, sampling=SamplingConfig(max_new_tokens=100_000))


@pytest.mark.parametrize(("prompt", "engine", "message"), [
    ("  ", "ours", "the prompt is empty"),
    ("", "hf", "the prompt is empty"),
    ("w1", "llama.cpp", "unknown engine"),
])
def test_bad_requests_are_refused_before_loading(tiny_gpt2: Path, no_weights: None, prompt: str, engine: str,
                                                 message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate_text(prompt, str(tiny_gpt2), engine)


def test_an_encoder_is_not_a_causal_lm(no_weights: None) -> None:
    with pytest.raises(InputError, match=r"'minilm' is not a causal language model .*BertModel"):
        generate_text("Hello", "minilm")


@pytest.mark.parametrize("kwargs", [
    {"temperature": math.nan}, {"temperature": math.inf}, {"temperature": -0.5}, {"repetition_penalty": math.nan},
    {"top_p": math.nan}, {"top_p": 0.0}, {"top_p": 1.01}, {"top_k": 0},
])
def test_sampling_settings_out_of_range(kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError):
        SamplingConfig(**{"temperature": 1.0, **kwargs})


@pytest.mark.parametrize(("args", "message"), [
    (["--temperature", "nan"], "temperature nan"),
    (["--engine", "hf", "--max-new-tokens", "100000"], "more than the model's context of 64"),
    (["--top-p", "2"], "outside (0, 1]"),
])
def test_cli_refuses_in_one_line(tiny_gpt2: Path, no_weights: None, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["generate", "w1 w2", "--model", str(tiny_gpt2), *args])
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_json_is_the_result(tiny_gpt2: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "w1 w2", "--model", str(tiny_gpt2), "--max-new-tokens", "5",
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["prompt_ids"] == [1, 2] and len(out["generated_ids"]) == 5 and out["engine"] == "ours"


def test_no_cache_deprecation_warning(tiny_gpt2: Path) -> None:
    model = GPT2LMHeadModel.from_pretrained(tiny_gpt2).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = generate(model, [1, 2, 3], SamplingConfig(max_new_tokens=8))  # our loop on the HF model
        theirs = model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=8, do_sample=False)[0, 3:].tolist()
    assert ours == theirs
    about_cache = [str(w.message) for w in caught if "past_key_values" in str(w.message)]
    assert not about_cache
