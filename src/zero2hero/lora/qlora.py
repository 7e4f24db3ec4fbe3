"""QLoRA (Dettmers et al. 2023): LoRA adapters trained over a base model whose frozen weights are stored in 4 bits.

LoRA already freezes the base; QLoRA notices that a frozen weight is only ever *read*, so it can be stored
compressed. Here, on the CPU, with chapter 4's NF4 format:

* **what is stored**: each frozen linear weight ``(out, in)`` becomes NF4 codes, two per byte (``q``, uint8),
  plus one float32 absmax per block of 64 weights (``scale``): 4 + 32/64 = 4.5 bits per weight instead of 32.
  The LoRA matrices A and B stay float32 and trainable; so do the embeddings, norms, biases and the output head
  (small, or trained in full).
* **what is dequantized when**: in the forward pass a layer rebuilds its float32 weight from the codes, uses it
  for one matrix product and drops it; in the backward pass it rebuilds it again. Only one layer's float32
  weight exists at a time.
* **why the gradient still reaches A and B**: the gradient of ``y = x @ Wᵀ`` with respect to its input is
  ``grad_y @ W`` — it needs W's *values* (the dequantized weight), never a gradient *for* W. So the gradient
  flows through every frozen 4-bit layer down to the adapters of the layers below, while no gradient and no
  optimizer state is ever made for W.

The one thing to get right is the backward pass. A plain ``F.linear(x, dequantized_weight)`` lets autograd
*keep* the dequantized float32 weight until the backward pass (it needs it for ``grad_y @ W``): every layer's
weight would sit in memory in float32 again, and the 4-bit storage would save nothing while training.
:class:`_LinearOverNF4` keeps nothing and dequantizes a second time in the backward pass, as bitsandbytes'
``MatMul4Bit`` does on a GPU: a little more compute for a lot less memory.

On a CUDA GPU, :func:`load_qlora_bitsandbytes` is the library path: bitsandbytes stores the 4-bit weights and
its kernels dequantize on the fly, and PEFT adds the adapters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from zero2hero.errors import InputError
from zero2hero.lora.inject import OUTPUT_LAYER_NAMES, lora_layers, parse_targets
from zero2hero.lora.layer import LoRALinear, LoRASettings
from zero2hero.quantization.linear import QuantLinear

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class _LinearOverNF4(torch.autograd.Function):
    """``x @ dequant(W)ᵀ + b`` that saves nothing for the backward pass but the layer (whose W is 4-bit)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, layer: FrozenNF4Linear) -> torch.Tensor:
        ctx.layer = layer  # the packed codes and scales live in the layer: nothing new is kept
        weight = layer.dequantized().to(x.dtype)  # (out, in) float, alive only during this product
        return F.linear(x, weight, None if layer.bias is None else layer.bias.to(x.dtype))

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        if not ctx.needs_input_grad[0]:  # e.g. the first layers, below every adapter
            return None, None
        weight = ctx.layer.dequantized().to(grad_output.dtype)  # dequantized a second time
        return grad_output @ weight, None  # (..., out) @ (out, in) -> (..., in); W itself gets no gradient


class FrozenNF4Linear(QuantLinear):
    """Chapter 4's NF4 :class:`QuantLinear` (uint8 codes ``q`` + float32 ``scale`` per 64 weights), frozen, with a
    backward pass that dequantizes again instead of keeping a float32 copy of the weight.
    Input ``(..., in_features)``, output ``(..., out_features)``."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__(linear, "nf4", cache=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LinearOverNF4.apply(x, self)


def quantize_base(model: nn.Module, skip: Iterable[str] = OUTPUT_LAYER_NAMES) -> list[str]:
    """After :func:`~zero2hero.lora.inject.add_lora`: store every frozen linear weight of ``model`` in NF4, in place.

    That is the base layer inside each :class:`LoRALinear` and every other ``nn.Linear`` whose parameters are all
    frozen, except the adapters themselves and the modules named (or ending with) one of ``skip`` — the output
    heads by default (a language model's ``lm_head`` shares its weight with the embedding, a classifier is
    trained). Returns the names of the quantized layers. A weight whose size 64 does not divide stays float32.
    """
    if not lora_layers(model):
        raise InputError(f"{type(model).__name__} has no LoRA layers: QLoRA quantizes the base *under* the adapters",
                         "call add_lora(model, targets, settings) first, then quantize_base(model)")
    skipped = tuple(skip)
    quantized = []
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            if type(module.base) is nn.Linear and module.base.weight.numel() % 64 == 0:
                module.base = FrozenNF4Linear(module.base)
                quantized.append(f"{name}.base")
        elif type(module) is nn.Linear and _is_frozen_base(name, module, skipped):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, FrozenNF4Linear(module))
            quantized.append(name)
    return quantized


def _is_frozen_base(name: str, linear: nn.Linear, skip: tuple[str, ...]) -> bool:
    parts = name.split(".")
    return (not any(param.requires_grad for param in linear.parameters())
            and "lora_A" not in parts and "lora_B" not in parts  # an adapter's own matrices (trainable anyway)
            and not any(part in skip for part in parts)
            and linear.weight.numel() % 64 == 0)


def quantized_bytes(model: nn.Module) -> tuple[int, int]:
    """(bytes of the NF4 weights of ``model``, bytes the same weights take in float32)."""
    layers = [module for module in model.modules() if isinstance(module, FrozenNF4Linear)]
    return (sum(layer.storage_bytes() for layer in layers),
            sum(4 * layer.in_features * layer.out_features for layer in layers))


def load_qlora_bitsandbytes(name: str, targets: str | Iterable[str], settings: LoRASettings) -> PreTrainedModel:
    """The library path on a CUDA GPU: causal LM ``name`` loaded in 4-bit NF4 by bitsandbytes (double-quantized
    scales, bfloat16 compute), prepared for training by PEFT, with LoRA adapters on ``targets``.

    Raises :class:`InputError` when no CUDA GPU is visible: bitsandbytes' 4-bit training kernels need one.
    """
    if not torch.cuda.is_available():
        raise InputError("bitsandbytes' 4-bit training needs a CUDA GPU, and this machine has none",
                         "on the CPU use zero2hero.lora.qlora.quantize_base (the same NF4 idea, written out)")
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from zero2hero.assets import resolve_model_path

    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(name), quantization_config=quantization,
                                                 device_map={"": 0})
    model = prepare_model_for_kbit_training(model)  # norms in fp32, inputs require grad for checkpointing
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=parse_targets(targets), use_rslora=settings.rank_stabilised,
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)
