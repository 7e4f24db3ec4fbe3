# %% [markdown]
# # Chapter 4 — Inference and quantization (notebook)
# Quantize a real weight matrix of SmolLM2 with each format, check GGML's byte layout against the
# `gguf` package, and see what one outlier does to an int8 scale. Runs as a script in seconds.

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
