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

# %% [markdown]
# ## A real pre-trained model: SmolLM2-135M-Instruct, offline, on the CPU
# The same loop drives a Hugging Face causal LM. Change the prompt and the settings and watch the output move.

# %%
from zero2hero.assets import load_causal_lm  # noqa: E402
from zero2hero.transformer.generate import encode_prompt  # noqa: E402

model, tok = load_causal_lm("smollm2")
prompt_ids = encode_prompt(tok, "Give me one fact about the Moon.", chat=True)
for name, settings in {"greedy": {}, "t=0.8, top-p 0.9": {"temperature": 0.8, "top_p": 0.9, "seed": 0}}.items():
    out = generate(model, prompt_ids, SamplingConfig(max_new_tokens=24, stop_ids=[tok.eos_token_id], **settings))
    print(f"{name:>16}: {tok.decode(out, skip_special_tokens=True)!r}")

# %% [markdown]
# ## Where SmolLM2 keeps token order, and how big its KV cache is
# No position table: rotary embeddings (RoPE) rotate queries and keys inside attention. Grouped-query
# attention: 9 query heads share 3 key/value heads, so the cache is a third of what it would be.

# %%
from zero2hero.transformer.kv_cache import kv_cache_bytes, measured_cache_bytes  # noqa: E402

print("rope:", model.config.rope_parameters)
print("position parameters:", [n for n, _ in model.named_parameters() if "position" in n or "rotary" in n])
print("position buffers:", [n for n, _ in model.named_buffers() if "rotary" in n])
with torch.inference_mode():
    cache = model(torch.tensor([prompt_ids]), use_cache=True).cache
print(f"KV cache after {len(prompt_ids)} tokens: formula {kv_cache_bytes(model.config, len(prompt_ids)):,} bytes, "
      f"measured {measured_cache_bytes(cache):,} bytes")

# %% [markdown]
# ## An encoder–decoder: a tiny T5 learns to reverse digits
# The encoder reads the source once; each decoder step cross-attends to every source position. 100 steps here
# (the lesson trains 300); the cross-attention weights are (batch, heads, output positions, source positions).

# %%
from zero2hero.transformer.encoder_decoder import (  # noqa: E402
    ReversalConfig,
    cross_attention,
    greedy_decode,
    reversal_batch,
    train_reversal,
)

reversal = ReversalConfig(steps=100)
seq2seq, losses = train_reversal(reversal)
source, target = reversal_batch(1, reversal.length, torch.Generator().manual_seed(7))
output = greedy_decode(seq2seq, source, reversal.length + 1)
print(f"loss {losses[0]:.2f} -> {losses[-1]:.2f}; source {source[0].tolist()}, target {target[0].tolist()}, "
      f"output {output[0].tolist()}")
print("cross-attention of the last decoder layer:", tuple(cross_attention(seq2seq, source, output)[-1].shape))

# %% [markdown]
# ## Masked vs causal language modelling, trained side by side
# Two tiny character models, the same network and the same batches: one bidirectional with MLM, one causal
# with CLM. The encoder fills blanks from both sides; the decoder continues text.

# %%
from zero2hero.corpus import heldout_text, training_text  # noqa: E402
from zero2hero.transformer import mlm_vs_clm as mc  # noqa: E402

train = " ".join(training_text()[:200_000].split())
held = " ".join(heldout_text(50_000).split())
lms = {objective: mc.train(objective, train, mc.TinyLMConfig(steps=1000)) for objective in mc.OBJECTIVES}
for objective, lm in lms.items():
    print(f"{objective}: fill-in accuracy {mc.fill_in_accuracy(lm, held):.2f}, "
          f"next-character accuracy {mc.next_char_accuracy(lm, held):.2f}, "
          f"blanks: {mc.fill_blanks(lm, 'She was h_ppy to s_e her')!r}, "
          f"continues: {mc.continue_text(lm, 'It is a truth ', 30)!r}")
