# %% [markdown]
# # Chapter 4 — Inference and quantization (notebook)
# Quantize a real weight matrix of SmolLM2 with each format, check GGML's byte layout against the
# `gguf` package, see what one outlier does to an int8 scale, then measure SmolLM2 before and after
# quantization. Runs as a script in under a minute.

# %%
import gguf
import numpy as np
import torch
from gguf import quants as gq

from zero2hero.quantization import (
    BITS_PER_WEIGHT,
    absmax_dequantize,
    absmax_quantize,
    dequantize_q4_0,
    error_stats,
    outlier_effect,
    quantize_q4_0,
    quantize_q8_0,
)

# %% [markdown]
# ## int8 absmax by hand on four numbers

# %%
x = torch.tensor([[1.0, -2.0, 0.5, 0.0]])
q, scale = absmax_quantize(x, 8, "tensor")
print("q =", q.tolist(), " scale =", float(scale), " back =", absmax_dequantize(q, scale).tolist())

# %% [markdown]
# ## Q4_0 and Q8_0: our bytes against the gguf reference

# %%
w = torch.randn(64, 256, generator=torch.Generator().manual_seed(0)) * 0.02
for name, ours, qtype in (("Q8_0", quantize_q8_0(w), gguf.GGMLQuantizationType.Q8_0),
                          ("Q4_0", quantize_q4_0(w), gguf.GGMLQuantizationType.Q4_0)):
    same = np.array_equal(ours.numpy(), gq.quantize(w.numpy(), qtype))
    print(f"{name}: {ours.numel() * 8 / w.numel():.2f} bits/weight, identical to gguf: {same}")
print("bits per weight:", BITS_PER_WEIGHT)
print("Q4_0 error:", error_stats(w, dequantize_q4_0(quantize_q4_0(w))))

# %% [markdown]
# ## One outlier spoils a shared scale; groups contain the damage

# %%
for name, mse in outlier_effect().items():
    print(f"{name:24s} {mse:.3e}")

# %% [markdown]
# ## A whole model before and after: SmolLM2 at four precision levels
# Size, perplexity on held-out text and decode speed, measured the same way for each level (the code behind
# `z2h lab 4`). Try other levels: `ours_q4_0`, `ours_nf4`, `bf16`, `torch_int8`.

# %%
from zero2hero.assets import load_causal_lm  # noqa: E402
from zero2hero.corpus import heldout_text  # noqa: E402
from zero2hero.quantization.analysis import activation_outliers  # noqa: E402
from zero2hero.quantization.levels import measure_levels  # noqa: E402

model, tokenizer = load_causal_lm("smollm2")
text = heldout_text(128 * 6)
levels = ["fp32", "ours_q8_0", "ours_int8_fused", "torch_int8_mixed"]
# Decode speed: the four levels take turns over two rounds and each keeps its best round.
for r in measure_levels(levels, model, tokenizer, text, "The capital of France is", ppl_tokens=128, new_tokens=8):
    print(f"{r.level:18s} {r.size_bytes / 1e6:6.1f} MB  perplexity {r.perplexity:7.2f}  "
          f"decode {r.decode_tokens_per_s:5.1f} tokens/s  {r.sample!r}")

# %% [markdown]
# ## Why torch's int8 keeps down_proj in fp32: activation outliers
# For each kind of linear layer, the largest input feature divided by the median one (worst layer).

# %%
ids = tokenizer(text, return_tensors="pt").input_ids[:, :128]
for kind, ratio in activation_outliers(model, ids).items():
    print(f"{kind:10s} {ratio:8.1f}")

# %% [markdown]
# ## The library path: transformers' `quantization_config=` with bitsandbytes, on the CPU
# A tiny LLaMA built here (no download), loaded back with LLM.int8() and with NF4. On SmolLM2 use
# `load_quantized("smollm2", "bnb-8bit")`; the lesson measures it.

# %%
import tempfile  # noqa: E402

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from zero2hero.quantization.library import load_quantized  # noqa: E402

torch.manual_seed(0)
tiny_folder = tempfile.mkdtemp()
tiny = LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2)).eval()
tiny.save_pretrained(tiny_folder)
tiny_ids = torch.randint(0, 128, (1, 16))
for method in ("bnb-8bit", "bnb-nf4"):
    quantized = load_quantized(tiny_folder, method)
    with torch.inference_mode():
        error = (quantized(tiny_ids).logits - tiny(tiny_ids).logits).abs().max().item()
    print(f"{method}: {type(quantized.model.layers[0].mlp.down_proj).__name__}, "
          f"{quantized.get_memory_footprint():,} bytes vs {tiny.get_memory_footprint():,}, "
          f"max |logit error| {error:.3f}")
