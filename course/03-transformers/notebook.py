# %% [markdown]
# # Chapter 3 — attention and a GPT-2 from scratch
# A tiny GPT-2 built locally, our model loaded with its weights, logits compared, then generation.

# %%
import tempfile

import torch
from transformers import GPT2Config as HFConfig
from transformers import GPT2LMHeadModel

from zero2hero.transformer.attention import causal_mask, scaled_dot_product_attention
from zero2hero.transformer.generate import SamplingConfig, generate
from zero2hero.transformer.load import from_pretrained

# %% The causal mask and one attention call
print(causal_mask(4, 4).int())
q = k = v = torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(0))
out, weights = scaled_dot_product_attention(q, k, v, causal_mask(4, 4))
print(weights.round(decimals=2))

# %% A tiny GPT-2, saved and loaded into our from-scratch model
torch.manual_seed(0)
folder = tempfile.mkdtemp()
GPT2LMHeadModel(HFConfig(vocab_size=300, n_positions=64, n_embd=64, n_layer=2, n_head=4)).save_pretrained(folder)
hf = GPT2LMHeadModel.from_pretrained(folder).eval()
ours = from_pretrained(folder)
ids = torch.randint(0, 300, (1, 16))
with torch.inference_mode():
    print("max |logit difference|:", (ours(ids)[0] - hf(ids).logits).abs().max().item())

# %% Greedy and sampled generation with the KV cache
print("greedy :", generate(ours, [1, 2, 3], SamplingConfig(max_new_tokens=10)))
print("sampled:", generate(ours, [1, 2, 3], SamplingConfig(max_new_tokens=10, temperature=0.8, top_p=0.9, seed=1)))
