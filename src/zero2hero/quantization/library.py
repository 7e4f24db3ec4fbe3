"""The library paths: PyTorch's int8 dynamic quantization (runs on this CPU) and bitsandbytes 8-bit / NF4
(CUDA only: skipped with a clear message where there is no GPU)."""

from __future__ import annotations

import copy
import importlib.util
import warnings

import torch
from torch import nn

from zero2hero.errors import Zero2HeroError


def torch_dynamic_int8(model: nn.Module, keep_fp32: tuple[str, ...] = ()) -> nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers run as fbgemm int8 kernels: weights int8 with one
    scale per output channel, activations quantized per batch at run time. ``model`` is unchanged.

    Layers whose qualified name contains one of ``keep_fp32`` (e.g. ``"lm_head"``, ``"down_proj"``) stay
    float32 — mixed precision for the layers whose inputs have outlier features.
    Per-channel matters: per-tensor scales garble SmolLM2's output from the first token.
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise Zero2HeroError(f"{type(model).__name__} has no nn.Linear layers", "nothing to quantize")
    chosen = {name: per_channel_dynamic_qconfig for name in linears if not any(k in name for k in keep_fp32)}
    if not chosen:
        raise Zero2HeroError(f"keep_fp32={keep_fp32} keeps every linear layer of {type(model).__name__} in fp32",
                             "name fewer layers to keep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        return quantize_dynamic(copy.deepcopy(model), chosen, dtype=torch.qint8)


def bitsandbytes_status() -> tuple[bool, str]:
    """(usable, why): bitsandbytes' 8-bit and NF4 layers need the package and a CUDA GPU."""
    if not torch.cuda.is_available():
        return False, "skipped: bitsandbytes 8-bit/NF4 kernels need a CUDA GPU and this machine has none"
    if importlib.util.find_spec("bitsandbytes") is None:
        return False, "skipped: bitsandbytes is not installed (pip install bitsandbytes on a CUDA machine)"
    return True, "available"


def load_bitsandbytes(path: str, bits: int) -> nn.Module:
    """A causal LM from the folder ``path`` loaded by transformers with bitsandbytes at ``bits`` (8 or 4 = NF4)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    usable, why = bitsandbytes_status()
    if not usable:
        raise Zero2HeroError(f"bitsandbytes cannot run here ({why})", "run this path on a machine with a CUDA GPU")
    if bits not in (4, 8):
        raise Zero2HeroError(f"bitsandbytes supports 8 or 4 bits, not {bits}", "pass bits=8 or bits=4")
    config = (BitsAndBytesConfig(load_in_8bit=True) if bits == 8 else
              BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16))
    return AutoModelForCausalLM.from_pretrained(path, quantization_config=config, device_map="cuda")
