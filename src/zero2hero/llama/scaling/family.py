"""The family of models: a ladder of sizes of one LLaMA architecture, and the training recipe of each size.

Every size is :class:`zero2hero.llama.model.Llama` with RMSNorm, rotary positions, grouped-query attention (two
query heads per key/value head) and a SwiGLU MLP whose hidden size is 8/3 of the width (as LLaMA's), with the
output layer tied to the token embeddings. Sizes differ in width and depth only, so the ladder measures what
"more parameters" buys, the rest held fixed.

**Parameters N** count the *non-embedding* weights, as Kaplan et al. (2020) do: the vocabulary matrices (the token
embedding table, and the output layer, here the same matrix) are excluded. Per layer: attention
``2·w·h·d + 2·w·kv·d`` (query and output, key and value), the MLP ``3·w·m``, two RMSNorm scales ``2·w``; plus the
final norm ``w`` (w: width, h/kv: query/key-value heads, d: head size, m: MLP size). For ``h·d = w`` and
``kv = h/2`` that is about ``11·w²`` a layer.

**The recipe**, fixed per size, with no tuning per point:

* peak learning rate ``lr = BASE_LEARNING_RATE × 64 / width``: Adam's update of a hidden matrix changes its output
  by about ``lr × width`` (every input contributes), so keeping that change the same across widths needs
  ``lr ∝ 1/width`` (the rule of μP, Yang et al. 2022). The constant was chosen once on the middle size (width 64,
  see :data:`BASE_LEARNING_RATE`), and the other sizes follow the rule;
* warm-up over the first :data:`WARMUP_SHARE` of the steps, then linear decay to 0 at the last step (chapter 5's
  :func:`~zero2hero.finetuning.schedule.linear_warmup_then_decay`): every budget gets the same *shape* of schedule,
  stretched to its length, so a smaller budget is a complete run, not a cut-short larger one;
* no weight decay (each token is seen about once: there is nothing to over-fit) and no dropout;
* initial weights drawn from N(0, 0.02²), the residual outputs (``o_proj``, ``down_proj``) from N(0, (0.02/√(2L))²),
  as GPT-2 and LLaMA do, so that the residual stream does not grow with depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from zero2hero.errors import UnknownNameError
from zero2hero.llama.model import Llama, LlamaConfig

# The peak rate at width 64, chosen once on s3 (width 64) at 131,072 tokens, batch 2 × 128: held-out loss 5.51,
# 5.41 and 5.88 nats/token at 2e-3, 4e-3 and 8e-3 (run_plan(ScalingPlan(sizes=("s3",), budgets=(131_072,))) with
# this constant changed, on the 2-core machine the course is tested on).
BASE_LEARNING_RATE = 4e-3
BASE_WIDTH = 64
WARMUP_SHARE = 0.1
INIT_STD = 0.02
ROPE_THETA = 10000.0


@dataclass(frozen=True)
class ModelSize:
    """One rung of the ladder: width (hidden size), depth and attention heads."""

    name: str
    width: int
    layers: int
    heads: int
    kv_heads: int

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def mlp_size(self) -> int:
        """8/3 of the width, rounded up to a multiple of 8 (LLaMA's SwiGLU keeps the MLP's weight count at 8·w²)."""
        return math.ceil(8 * self.width / 3 / 8) * 8


LADDER = (
    ModelSize("s1", 32, 2, 2, 1),
    ModelSize("s2", 48, 2, 4, 2),
    ModelSize("s3", 64, 3, 4, 2),
    ModelSize("s4", 96, 3, 6, 3),
    ModelSize("s5", 128, 4, 8, 4),
    ModelSize("s6", 192, 4, 12, 6),
)
SIZES = {size.name: size for size in LADDER}


def size_named(name: str) -> ModelSize:
    if name not in SIZES:
        raise UnknownNameError(f"no model size named {name!r}", f"choose one of {', '.join(SIZES)}")
    return SIZES[name]


def llama_config(size: ModelSize, vocab_size: int, context: int) -> LlamaConfig:
    """Our :class:`LlamaConfig` for a size, a vocabulary and a context length (tied embeddings)."""
    return LlamaConfig(vocab_size=vocab_size, hidden_size=size.width, intermediate_size=size.mlp_size,
                       num_hidden_layers=size.layers, num_attention_heads=size.heads,
                       num_key_value_heads=size.kv_heads, head_dim=size.head_dim, rope_theta=ROPE_THETA,
                       max_position_embeddings=context, tie_word_embeddings=True)


def non_embedding_params(cfg: LlamaConfig) -> int:
    """N: the weights outside the token embedding table, from the sizes alone (see the module docstring)."""
    w, d = cfg.hidden_size, cfg.head_dim
    attention = 2 * w * cfg.num_attention_heads * d + 2 * w * cfg.num_key_value_heads * d
    mlp = 3 * w * cfg.intermediate_size
    per_layer = attention + mlp + 2 * w
    return cfg.num_hidden_layers * per_layer + w


def learning_rate(size: ModelSize) -> float:
    """The peak learning rate of a size: ``BASE_LEARNING_RATE × BASE_WIDTH / width`` (lr ∝ 1/width)."""
    return BASE_LEARNING_RATE * BASE_WIDTH / size.width


def warmup_steps(total_steps: int) -> int:
    """Warm-up steps of a run: :data:`WARMUP_SHARE` of its steps, at least one."""
    return max(1, round(WARMUP_SHARE * total_steps))


def build_model(cfg: LlamaConfig, seed: int) -> Llama:
    """A new model with the recipe's initial weights (the same ``seed`` gives the same weights)."""
    torch.manual_seed(seed)
    model = Llama(cfg)
    residual_std = INIT_STD / math.sqrt(2 * cfg.num_hidden_layers)
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            std = residual_std if name.endswith(("o_proj", "down_proj")) else INIT_STD
            nn.init.normal_(module.weight, mean=0.0, std=std)
    return model
