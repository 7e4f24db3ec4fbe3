"""A tiny LLaMA with a byte-level BPE tokenizer, saved as a model folder (no download), and a made-up "author" whose
text is regular enough for the tiny model to learn its style in a few steps."""

from __future__ import annotations

import random
from pathlib import Path

import torch


def author_text(paragraphs: int, seed: int) -> str:
    """Paragraphs of short sentences from a small grammar, blank lines between them."""
    rng = random.Random(seed)
    names, nouns = ["Anne", "Emma", "Fanny", "Jane"], ["garden", "letter", "ball", "visit"]
    adjectives = ["pleasant", "tedious", "charming", "dreadful"]
    out = []
    for _ in range(paragraphs):
        sentences = [f"The {rng.choice(nouns)} of {rng.choice(names)} was very {rng.choice(adjectives)}."
                     for _ in range(rng.randint(3, 6))]
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def write_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """A 2-layer LlamaForCausalLM (4 heads, 2 key/value heads, hidden 32) and a byte-level BPE tokenizer trained on
    :func:`author_text`, saved with ``save_pretrained`` into ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([author_text(50, seed=99)], trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
