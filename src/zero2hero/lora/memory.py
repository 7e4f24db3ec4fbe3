"""How much memory does a training step need? A model of the peak, for full fine-tuning, LoRA and QLoRA with AdamW.

Four things fill memory while a model trains:

| component | full fine-tuning | LoRA | QLoRA |
|---|---|---|---|
| weights | 4 B × every parameter (fp32) | 4 B × (parameters + adapters) | 0.5625 B a block-linear weight, else 4 B |
| gradients | 4 B × every parameter | 4 B × trainable (adapters, head) | as LoRA |
| AdamW states | 8 B × every parameter (two fp32 moments) | 8 B × trainable | as LoRA |
| activations | what autograd saves for the backward pass (below) | less: a frozen layer keeps no input | as LoRA |

An NF4 weight is a 4-bit code plus its share of one fp32 absmax per block of 64: 0.5 + 4/64 = 0.5625 bytes.

**Activations**, written out per layer for eager attention in fp32, in training mode. N = batch × length tokens,
H hidden size, A = heads × head size, I intermediate size, S = batch × heads × length² attention scores, r the
LoRA rank. A tensor is saved only when the backward pass needs it: the input of a linear layer is kept only if
that layer's weight learns (or an adapter sits beside it), because ``grad_x = grad_y @ W`` needs W, not x.

* encoder (BERT-like) layer: Q, K, V (3·N·A), softmax probabilities S, with attention dropout its mask and the
  dropped probabilities (2·S, float32 masks on the CPU), two LayerNorm inputs (2·N·H) and their mean and 1/std
  (4·N), the GELU input (N·I), with hidden dropout two masks (2·N·H); plus the input of each learning linear:
  attention input N·H (query/key/value), context N·A (attention output), first LayerNorm output N·H
  (intermediate), GELU output N·I (output dense).
* decoder (LLaMA-like) layer: two RMSNorm inputs (2·N·H) and their 1/rms (2·N), Q and K after RoPE and V
  (3·N·A, K and V repeated to every head), softmax probabilities S, the SiLU input, the up projection's output
  and the SiLU output (3·N·I); the normalised inputs when the norms' weights learn (2·N·H); plus the input of
  each learning linear: first norm output N·H (q/k/v), context N·A (o), second norm output N·H (gate/up), the
  gated product N·I (down).
* LoRA adds N·r per adapted layer: the input of B (the adapter's r-wide middle).
* outside the layers: the encoder's embedding LayerNorm and dropout (full fine-tuning only; under LoRA nothing
  below the first adapter needs a gradient); a causal LM's final norm input, the log-softmax of its logits (N·V
  for a vocabulary of V) and, when the head learns, its input.

Each term is 4 bytes an element. The per-layer formula equals the bytes autograd saves, checked on small models
(tests/lora/test_memory.py); the first layer under LoRA saves a little less (its input needs no gradient).

**The peak.** Activations are largest at the start of the backward pass, gradients at its end: the backward pass
frees each layer's saved tensors as it makes that layer's gradients. So the peak is
``weights + optimizer + max(activations + workspace + head gradient, gradients)``, where *workspace* is what lives
only for a moment at that point (the gradient of a causal LM's logits and log-probabilities, 2·N·V; an encoder's
attention-score gradients, 2·S; under QLoRA one layer's weight being decoded) and *head gradient* is the gradient
made first in the backward pass (a tied output head's, V·H, when it learns).

**Measured against it**: resident memory in a fresh process (``z2h bench lora``). Two things make resident memory
differ from the tensors alive, and the measurement removes both: transformers maps the weight file into memory,
so weights become resident only when first read (they are read once before measuring); and glibc's ``malloc``
keeps freed blocks for reuse, so by the third step of MiniLM LoRA (8 × 128 tokens) the process held far more
than the tensors alive (run ``python -m zero2hero.lora.step_cost memory minilm ours 8 128 3 8`` with and without
``MALLOC_MMAP_THRESHOLD_=65536``, which makes every large block go back to the system when freed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from zero2hero.errors import InputError
from zero2hero.lora.functional import lora_parameter_count
from zero2hero.lora.inject import ALL_LINEAR, matches

FP32 = 4  # bytes per float32 number
NF4_BYTES_PER_WEIGHT = 0.5 + FP32 / 64  # a 4-bit code, and one fp32 absmax per block of 64
ADAMW_STATES = 2  # first and second moment, fp32 each
METHODS = ("full", "lora", "qlora")


@dataclass(frozen=True)
class Linear:
    """One linear layer of a block: its name inside the block (as targets match it), in and out sizes."""

    name: str
    fan_in: int
    fan_out: int
    bias: bool

    @property
    def parameters(self) -> int:
        return self.fan_in * self.fan_out + (self.fan_out if self.bias else 0)


@dataclass(frozen=True)
class ModelShape:
    """What the formulas need from a model's configuration."""

    kind: str  # "encoder" (BERT-like) or "decoder" (LLaMA-like)
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    other_embeddings: int  # positions + token types (BERT); 0 for a decoder with RoPE
    tied_head: bool  # the output head shares the embedding's weight
    attention_dropout: bool  # dropout active on the attention probabilities (a saved mask)
    hidden_dropout: bool  # dropout active after the attention and the MLP (saved masks)
    bias: bool

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """From a transformers ``BertConfig`` or ``LlamaConfig`` (or one shaped like them)."""
        if config.model_type not in ("bert", "llama"):
            raise InputError(f"no memory formula for {config.model_type!r} models",
                             "use a BERT-like or LLaMA-like model")
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        common = dict(layers=config.num_hidden_layers, hidden=config.hidden_size, heads=heads, head_dim=head_dim,
                      intermediate=config.intermediate_size, vocab=config.vocab_size)
        if config.model_type == "bert":
            return cls("encoder", kv_heads=heads, other_embeddings=config.max_position_embeddings
                       + config.type_vocab_size, tied_head=False,
                       attention_dropout=config.attention_probs_dropout_prob > 0,
                       hidden_dropout=config.hidden_dropout_prob > 0, bias=True, **common)
        if getattr(config, "attention_dropout", 0.0) > 0:
            raise InputError("the memory model writes out LLaMA blocks without attention dropout",
                             "set attention_dropout=0 (the default)")
        return cls("decoder", kv_heads=config.num_key_value_heads, other_embeddings=0,
                   tied_head=bool(config.tie_word_embeddings), attention_dropout=False, hidden_dropout=False,
                   bias=bool(getattr(config, "attention_bias", False)), **common)

    def block_linears(self) -> list[Linear]:
        """The linear layers of one block, named as in transformers' BERT and LLaMA."""
        h, i, b = self.hidden, self.intermediate, self.bias
        a, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        if self.kind == "encoder":
            return [Linear("attention.self.query", h, a, b), Linear("attention.self.key", h, a, b),
                    Linear("attention.self.value", h, a, b), Linear("attention.output.dense", a, h, b),
                    Linear("intermediate.dense", h, i, b), Linear("output.dense", i, h, b)]
        return [Linear("self_attn.q_proj", h, a, b), Linear("self_attn.k_proj", h, kv, b),
                Linear("self_attn.v_proj", h, kv, b), Linear("self_attn.o_proj", a, h, b),
                Linear("mlp.gate_proj", h, i, False), Linear("mlp.up_proj", h, i, False),
                Linear("mlp.down_proj", i, h, False)]

    def norm_parameters_per_block(self) -> int:
        return 4 * self.hidden if self.kind == "encoder" else 2 * self.hidden  # LayerNorm: weight + bias

    def head_parameters(self, num_labels: int) -> int:
        """The output head: a causal LM's ``lm_head`` (0 when tied), or a classifier on the pooled [CLS] vector."""
        if self.kind == "decoder":
            return 0 if self.tied_head else self.vocab * self.hidden
        return num_labels * self.hidden + num_labels if num_labels else 0

    def parameters(self, num_labels: int = 0) -> int:
        """Every parameter of the model (a tied head counted once, as ``model.parameters()`` does)."""
        block = sum(linear.parameters for linear in self.block_linears()) + self.norm_parameters_per_block()
        embeddings = (self.vocab + self.other_embeddings) * self.hidden
        if self.kind == "encoder":
            extra = 2 * self.hidden + self.hidden * self.hidden + self.hidden  # embedding LayerNorm, pooler
        else:
            extra = self.hidden  # final RMSNorm
        return embeddings + self.layers * block + extra + self.head_parameters(num_labels)

    def quantizable_weights(self) -> int:
        """Weights QLoRA stores in NF4: every block linear and the pooler (not the embeddings, norms, biases, head)."""
        pooler = self.hidden * self.hidden if self.kind == "encoder" else 0
        return self.layers * sum(linear.fan_in * linear.fan_out for linear in self.block_linears()) + pooler


@dataclass(frozen=True)
class MemoryEstimate:
    """Predicted bytes of one training step's peak, by component."""

    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float  # saved for the backward pass
    workspace_bytes: float  # alive only for a moment at the start of the backward pass
    head_gradient_bytes: float  # the gradient the backward pass makes first (a learning tied head's)

    @property
    def total_bytes(self) -> float:
        """The peak: activations and gradients are not at their largest at the same moment."""
        return (self.weights_bytes + self.optimizer_bytes
                + max(self.activations_bytes + self.workspace_bytes + self.head_gradient_bytes, self.gradients_bytes))

    @property
    def added_bytes(self) -> float:
        """What training adds over the loaded model (the peak without the weights)."""
        return self.total_bytes - self.weights_bytes


def adapted(shape: ModelShape, targets: Iterable[str]) -> list[Linear]:
    """The block linears that ``targets`` select (PEFT's matching rule on the names inside a block)."""
    wanted = list(targets)
    linears = shape.block_linears()
    return linears if wanted == [ALL_LINEAR] else [linear for linear in linears if matches(linear.name, wanted)]


def layer_activation_elements(shape: ModelShape, tokens: int, batch_size: int, length: int,
                              learning: set[str], rank_by_linear: dict[str, int], norms_learn: bool) -> int:
    """Numbers one block saves for the backward pass (see the module docstring).

    ``learning``: names of the block linears whose weight learns or that carry an adapter; ``rank_by_linear``: the
    adapted ones and their rank; ``norms_learn``: whether the norms' weights learn (decoder only).
    """
    n, h, a, i = tokens, shape.hidden, shape.heads * shape.head_dim, shape.intermediate
    scores = batch_size * shape.heads * length * length
    saved = 3 * n * a + scores + sum(n * rank for rank in rank_by_linear.values())
    if shape.kind == "encoder":
        saved += 2 * n * h + 4 * n + n * i  # LayerNorm inputs, their mean and 1/std, the GELU input
        saved += 2 * scores if shape.attention_dropout else 0  # mask and dropped probabilities
        saved += 2 * n * h if shape.hidden_dropout else 0  # two masks
        inputs = {"attention.self.query": n * h, "attention.output.dense": n * a, "intermediate.dense": n * h,
                  "output.dense": n * i}
        readers = {"attention.self.key": "attention.self.query", "attention.self.value": "attention.self.query"}
    else:
        saved += 2 * n * h + 2 * n + 3 * n * i  # RMSNorm inputs and 1/rms; SiLU input, up output, SiLU output
        saved += 2 * n * h if norms_learn else 0  # the normalised inputs, for the norms' weight gradients
        inputs = {"self_attn.q_proj": n * h, "self_attn.o_proj": n * a, "mlp.gate_proj": n * h, "mlp.down_proj": n * i}
        readers = {"self_attn.k_proj": "self_attn.q_proj", "self_attn.v_proj": "self_attn.q_proj",
                   "mlp.up_proj": "mlp.gate_proj"}
    kept = {readers.get(name, name) for name in learning}  # layers reading the same input keep it once
    return saved + sum(inputs[name] for name in kept)


def predict(config: Any, method: str, batch_size: int, length: int, targets: Iterable[str] = ("query", "value"),
            rank: int = 8, num_labels: int = 0) -> MemoryEstimate:
    """Predicted peak memory of an AdamW training step of ``method`` (full, lora or qlora) on ``batch_size`` ×
    ``length`` tokens. ``config``: a transformers config or a :class:`ModelShape`; ``num_labels``: the size of an
    encoder's classification head (trained in full under LoRA too), 0 for none."""
    if method not in METHODS:
        raise InputError(f"unknown training method {method!r}", f"use one of {', '.join(METHODS)}")
    if batch_size < 1 or length < 1 or rank < 1:
        raise InputError(f"batch size, length and rank must be ≥ 1, got {batch_size}, {length}, {rank}",
                         "e.g. batch 8, length 128, rank 8")
    shape = config if isinstance(config, ModelShape) else ModelShape.from_config(config)
    n, h, v = batch_size * length, shape.hidden, shape.vocab
    parameters = shape.parameters(num_labels)
    full = method == "full"
    lora_linears = [] if full else adapted(shape, targets)
    adapter_parameters = shape.layers * lora_parameter_count([(lin.fan_out, lin.fan_in) for lin in lora_linears], rank)
    trainable = parameters if full else adapter_parameters + shape.head_parameters(num_labels)

    weights = FP32 * (parameters + adapter_parameters)
    if method == "qlora":
        weights -= (FP32 - NF4_BYTES_PER_WEIGHT) * shape.quantizable_weights()

    learning = {linear.name for linear in (shape.block_linears() if full else lora_linears)}
    per_layer = layer_activation_elements(shape, n, batch_size, length, learning,
                                          {linear.name: rank for linear in lora_linears}, norms_learn=full)
    activations = shape.layers * per_layer + _outside_layers(shape, n, batch_size, length, full, num_labels)
    scores = batch_size * shape.heads * length * length
    workspace = 2 * n * v if shape.kind == "decoder" else 2 * scores
    if method == "qlora":  # one weight being decoded: uint8 codes, int64 indices, fp32 levels, fp32 scaled (17 B)
        workspace += max(linear.fan_in * linear.fan_out for linear in shape.block_linears()) * 17 / FP32
    head_gradient = v * h if full and shape.kind == "decoder" else 0
    return MemoryEstimate(weights_bytes=weights, gradients_bytes=FP32 * trainable,
                          optimizer_bytes=ADAMW_STATES * FP32 * trainable, activations_bytes=FP32 * activations,
                          workspace_bytes=FP32 * workspace, head_gradient_bytes=FP32 * head_gradient)


def _outside_layers(shape: ModelShape, n: int, batch_size: int, length: int, full: bool, num_labels: int) -> int:
    """Numbers saved outside the blocks: embeddings, the head and the loss (int64 ids count as two numbers)."""
    h = shape.hidden
    if shape.kind == "encoder":
        embeddings = (h * n + 2 * n + (n * h if shape.hidden_dropout else 0) + 2 * n) if full else 0  # LN, mask, ids
        # the pooler reads the [CLS] vectors through a slice of the last hidden state: when its weight learns, the
        # slice keeps that whole (n, h) tensor alive; tanh output, dropout mask, the classifier's input; labels
        pooler = (n * h if full else 0) + 3 * batch_size * h + 2 * batch_size if num_labels else 0
        return embeddings + pooler
    rope = 2 * length * shape.head_dim  # cos and sin, one row per position, shared by every layer
    final_norm = n * h + n + (n * h if full else 0)
    head = n * shape.vocab + (n * h if full else 0)  # log-probabilities; the head's input when it learns
    return rope + final_norm + head + 2 * n + (2 * n if full else 0)  # labels; token ids for the embedding's gradient
