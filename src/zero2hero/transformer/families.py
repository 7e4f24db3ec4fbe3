"""The pre-trained models the course names — BERT, GPT-2, DistilGPT-2 — side by side: architecture and size
counted from their published configurations (no weights needed), and the speed of each decoder shape measured
with our own GPT-2 on random weights (speed depends on the shape, not on what the weights learned)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from zero2hero.transformer.generate import GenerationStats, SamplingConfig, generate
from zero2hero.transformer.gpt2 import GPT2, GPT2Config


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # encoder / decoder
    objective: str  # what it was pre-trained to predict
    layers: int
    width: int
    heads: int
    parameters: int
    typical_use: str


def _count(model_cls, config) -> int:  # a transformers model class and its config
    """Distinct parameters of ``model_cls(config)``, built on the meta device: shapes only, no memory, no download."""
    with torch.device("meta"):
        model = model_cls(config)
    return sum(p.numel() for p in model.parameters())  # a tied embedding / head counts once


def curriculum_models() -> list[Family]:
    """BERT-base, GPT-2 (small) and DistilGPT-2 from transformers' configuration classes, whose defaults are
    bert-base-uncased and gpt2; DistilGPT-2 is GPT-2 with 6 layers instead of 12."""
    from transformers import BertConfig, BertForMaskedLM, GPT2LMHeadModel
    from transformers import GPT2Config as HFGPT2Config

    bert, gpt2, distil = BertConfig(), HFGPT2Config(), HFGPT2Config(n_layer=6)
    return [
        Family("bert-base-uncased", "encoder", "masked LM (+ next-sentence prediction)", bert.num_hidden_layers,
               bert.hidden_size, bert.num_attention_heads, _count(BertForMaskedLM, bert),
               "classification, extraction, sentence embeddings"),
        Family("gpt2", "decoder", "causal LM", gpt2.n_layer, gpt2.n_embd, gpt2.n_head, _count(GPT2LMHeadModel, gpt2),
               "text generation, completion"),
        Family("distilgpt2", "decoder", "causal LM, distilled from gpt2", distil.n_layer, distil.n_embd,
               distil.n_head, _count(GPT2LMHeadModel, distil), "the same as gpt2, cheaper per token"),
    ]


def decoder_speeds(layer_counts: dict[str, int], prompt_tokens: int = 128, new_tokens: int = 32, rounds: int = 2,
                   seed: int = 0) -> dict[str, GenerationStats]:
    """Prefill and decode speed of our GPT-2 at GPT-2 small's width with each named number of blocks (12 =
    gpt2, 6 = distilgpt2), random weights, greedy with the KV cache; the shapes alternate over ``rounds`` and
    each keeps its fastest round."""
    from zero2hero.measure import interleaved

    torch.manual_seed(seed)
    models = {name: GPT2(GPT2Config(n_layer=n)).eval() for name, n in layer_counts.items()}
    prompt = torch.randint(GPT2Config().vocab_size, (prompt_tokens,)).tolist()

    def timed(model: GPT2) -> Callable[[], GenerationStats]:
        def run() -> GenerationStats:
            stats = GenerationStats()
            generate(model, prompt, SamplingConfig(new_tokens), stats)
            return stats
        return run

    for model in models.values():
        generate(model, prompt[:8], SamplingConfig(2))  # warm-up: first calls pay one-off allocation costs
    timings = interleaved({name: timed(model) for name, model in models.items()}, rounds=rounds)
    return {name: t.result for name, t in timings.items()}
