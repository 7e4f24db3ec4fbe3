"""The family of models: a ladder of sizes of one LLaMA architecture, and the training recipe of each size.

Every size is :class:`zero2hero.llama.model.Llama` with RMSNorm, rotary positions, grouped-query attention (two
query heads per key/value head; the smallest, s0, has a single head) and a SwiGLU MLP whose hidden size is 8/3 of
the width (as LLaMA's), with the output layer tied to the token embeddings. Sizes differ in width and depth only,
so the ladder measures what "more parameters" buys, the rest held fixed.

**Parameters N.** :func:`non_embedding_params` counts the *non-embedding* weights, as Kaplan et al. (2020) do: the
vocabulary matrices (the token embedding table, and the output layer, here the same matrix) are excluded. Per
layer: attention ``2·w·h·d + 2·w·kv·d`` (query and output, key and value), the MLP ``3·w·m``, two RMSNorm scales
``2·w``; plus the final norm ``w`` (w: width, h/kv: query/key-value heads, d: head size, m: MLP size). For
``h·d = w`` and ``kv = h/2`` that is about ``11·w²`` a layer. L(N) is fitted on this N: Kaplan's clean power law
in N used it, and the vocabulary matrix (2,048 × w) would otherwise dominate the count of the small sizes.

**Compute C.** :func:`training_flops_per_token` counts the floating-point operations of one training token as the
model performs them: a multiply and an add for every weight of every matrix product, ``2·N_matmul`` forward, and
the attention scores and their weighted sum, ``4·n_layer·n_ctx·d_attn`` forward (every query meets all ``n_ctx``
keys; the causal mask hides half of them after they are computed); the backward pass costs twice the forward. So
``C = 6·N_matmul·D + 12·n_layer·n_ctx·d_attn·D``, which is what ``torch.utils.flop_counter`` counts for a
training step (the tests check it). Kaplan et al. (2020, Table 1) write the same with the attention term halved,
``C_forward ≈ 2N + 2·n_layer·n_ctx·d_attn``, counting only the scores a causal model needs. ``N_matmul``
(:func:`matmul_params`) is the weights of the linear layers *plus the output layer* (vocab × w): the output layer
is a matrix product at every position, and for the smallest sizes it costs more than all their blocks together.
The embedding lookup is left out (it reads one row and multiplies nothing), and so are the RMSNorm scales. That
makes ``N_matmul`` the tied model's total parameter count less its norm scales: Hoffmann et al. (2022, Chinchilla)
count all parameters, Kaplan et al. the non-embedding ones; the IsoFLOP frontier uses the total count.

**The recipe**, fixed per size, with no tuning per point:

* peak learning rate ``lr = BASE_LEARNING_RATE × min(1, 64 / width)``: constant up to width 64, then ∝ 1/width.
  Above width 64, Adam's update of a hidden matrix changes its output by about ``lr × width`` (every input
  contributes), so keeping that change the same needs ``lr ∝ 1/width`` (the rule of μP, Yang et al. 2022); measured:
  s5 (width 128) at 131,072 tokens reaches 5.288 nats at 2e-3 and 5.343 at 4e-3. Below width 64 the rule would
  raise the rate past the stable range of our 256-token batches: s2 (width 48) at 5.3e-3 ended at 5.243 nats with
  seed 0 (a run that blew up: worse than the smaller s1, and worse than s2 at half the tokens) and 4.743 with seed 1,
  and at 4e-3 reached 4.743 with seed 0; s1 (width 32) reached 4.911 at 8e-3 and 4.870 at 4e-3 (524,288 tokens
  each). So the small widths keep the rate tuned at width 64 (see :data:`BASE_LEARNING_RATE`). Each number is one
  ``train_point(PointSpec(size, tokens, 128, 2, seed), course data, ...)`` with :func:`learning_rate` replaced by
  the rate named, on the 2-core machine the course is tested on;
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
    ModelSize("s0", 16, 2, 1, 1),  # one head of 16: two heads of 8 would leave RoPE 4 frequencies
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


def matmul_params(cfg: LlamaConfig) -> int:
    """N_matmul: the weights of the linear layers plus the output layer (vocab × width), tied or not; the embedding
    lookup and the RMSNorm scales multiply no matrix and are left out (see the module docstring)."""
    norm_scales = 2 * cfg.num_hidden_layers * cfg.hidden_size + cfg.hidden_size
    return non_embedding_params(cfg) - norm_scales + cfg.vocab_size * cfg.hidden_size


def training_flops_per_token(cfg: LlamaConfig, context: int) -> int:
    """Forward and backward FLOPs of one training token with ``context`` positions per window:
    ``6·N_matmul + 12·n_layer·n_ctx·d_attn`` (see the module docstring)."""
    attention = cfg.num_hidden_layers * context * cfg.num_attention_heads * cfg.head_dim
    return 6 * matmul_params(cfg) + 12 * attention


def learning_rate(size: ModelSize) -> float:
    """The peak learning rate of a size: ``BASE_LEARNING_RATE × min(1, BASE_WIDTH / width)``."""
    return BASE_LEARNING_RATE * min(1.0, BASE_WIDTH / size.width)


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
