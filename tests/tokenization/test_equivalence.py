"""Our encoders, given the models' own vocabularies, produce exactly the Hugging Face tokenizers' ids."""

from __future__ import annotations

import pytest

from tests.tokenization.conftest import VARIED_TEXTS


@pytest.mark.parametrize("text", VARIED_TEXTS + ["<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n"])
def test_bpe_matches_smollm2_tokenizer(smollm2_tokenizers, text: str) -> None:
    ours, hf = smollm2_tokenizers
    ids = ours.encode(text)
    assert ids == hf(text)["input_ids"]
    assert ours.decode(ids) == text == hf.decode(ids)


def test_bpe_vocabulary_is_the_models(smollm2_tokenizers) -> None:
    ours, hf = smollm2_tokenizers
    assert len(ours) == len(hf) == 49152
    assert ours.special_tokens["<|im_start|>"] == hf.convert_tokens_to_ids("<|im_start|>")


@pytest.mark.parametrize("text", VARIED_TEXTS + ["x" * 150 + " ok", "[CLS] already special? [SEP]"])
def test_wordpiece_matches_minilm_tokenizer(minilm_tokenizers, text: str) -> None:
    ours, hf = minilm_tokenizers
    assert ours.encode(text) == hf(text)["input_ids"]
    assert ours.tokenize(text) == hf.tokenize(text)
