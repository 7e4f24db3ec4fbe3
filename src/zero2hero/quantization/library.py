"""The library paths: PyTorch's int8 dynamic quantization, and transformers' ``quantization_config=`` with
bitsandbytes (LLM.int8() and NF4) — both run on this CPU; bitsandbytes also runs on a CUDA GPU, never required."""

from __future__ import annotations

import copy
import importlib.util
import logging
import warnings

import torch
from torch import nn

from zero2hero.errors import UnknownNameError, Zero2HeroError


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


BITSANDBYTES_METHODS = ("bnb-8bit", "bnb-nf4")


def bitsandbytes_status() -> tuple[bool, str]:
    """(usable, why): bitsandbytes' LLM.int8() and NF4 layers run on this machine's CPU (or a CUDA GPU) once
    the package is installed."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return False, "skipped: bitsandbytes is not installed (pip install -c constraints.txt bitsandbytes)"
    device = "CUDA GPU" if torch.cuda.is_available() else "CPU"
    return True, f"available on the {device}: load_quantized(path, method) for {', '.join(BITSANDBYTES_METHODS)}"


def bitsandbytes_config(method: str):
    """The ``transformers.BitsAndBytesConfig`` for ``method``: ``"bnb-8bit"`` is LLM.int8() (int8 weights with one
    scale per row; input features above the outlier threshold 6.0 multiply in 16-bit), ``"bnb-nf4"`` is NF4
    (4-bit normal-float codes, one scale per 64 weights, computed in float32)."""
    from transformers import BitsAndBytesConfig

    if method == "bnb-8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if method == "bnb-nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    raise UnknownNameError(f"unknown quantization method {method!r}", f"use one of {', '.join(BITSANDBYTES_METHODS)}")


def load_quantized(name_or_path: str, method: str = "bnb-8bit", device: str = "cpu") -> nn.Module:
    """A causal LM loaded by transformers with ``quantization_config=`` (bitsandbytes): its ``nn.Linear`` layers
    become ``bnb.nn.Linear8bitLt`` (``"bnb-8bit"``) or ``bnb.nn.Linear4bit`` (``"bnb-nf4"``); the embeddings, norms
    and the tied lm_head stay float32. ``name_or_path``: ``smollm2``, a folder written by ``save_pretrained``, or a
    hub name; ``device``: ``"cpu"`` (default) or ``"cuda"``."""
    from transformers import AutoModelForCausalLM

    from zero2hero.assets import resolve_model_path

    config = bitsandbytes_config(method)
    usable, why = bitsandbytes_status()
    if not usable:
        raise Zero2HeroError(f"cannot load with {method}: {why}", "install bitsandbytes, then try again")
    if device == "cuda" and not torch.cuda.is_available():
        raise Zero2HeroError("device='cuda' was asked for but this machine has no CUDA GPU", "use device='cpu'")
    # LLM.int8() casts float32 inputs to float16 and logs it on every matrix product: said once here instead.
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(name_or_path), quantization_config=config,
                                                 dtype="float32", device_map=device)
    return model.eval()
