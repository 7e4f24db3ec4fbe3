# %% [markdown]
# # Chapter 7 — LLaMA-like models, GGUF files and llama.cpp
# LLaMA changed four things in GPT-2's block (RMSNorm, rotary position embeddings, grouped-query attention, a
# SwiGLU MLP), and llama.cpp made such models run on a laptop by storing them in 4 or 8 bits in one file, GGUF.
# This notebook walks the chapter on a small scale, with SmolLM2-135M-Instruct, a LLaMA-shaped model shipped as a
# 4-bit GGUF file: read the file's header and one tensor byte by byte, build our from-scratch LLaMA from it and
# generate, look at RMSNorm and RoPE on tiny tensors, compute what grouped-query attention saves in the KV cache,
# ask the planner whether a large model fits this machine, and run the same file with llama.cpp. The lab
# (`z2h lab 7`) measures all of it at full size.
#
# Everything runs on the CPU in under a minute. llama.cpp (the `llama-cpp-python` package) is optional: the
# last section says how to install it when it is missing.

# %%
import dataclasses
import tempfile
from pathlib import Path

import gguf as gguf_package
import numpy as np
import torch

from zero2hero.assets import asset_path, load_tokenizer
from zero2hero.llama.gguf_model import llama_from_gguf
from zero2hero.llama.gguf_reader import read_gguf
from zero2hero.llama.llamacpp import INSTALL_HINT, generate_greedy, llamacpp_available, load, token_logits
from zero2hero.llama.model import RMSNorm, apply_rotary, rotary_cos_sin
from zero2hero.llama.plan_sources import named_models, resolve
from zero2hero.llama.planner import kv_bytes, make_plan
from zero2hero.llama.style_finetune import StyleConfig, austen_text, style_finetune
from zero2hero.transformer.generate import GenerationStats, SamplingConfig, encode_prompt, generate

path = asset_path("smollm2")
print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")

# %% [markdown]
# ## 1. A GGUF file, read by hand
# A GGUF file starts with the magic `GGUF`, a version, the number of tensors and of metadata entries; then the
# metadata (key, type, value), then one entry per tensor (name, shape, GGML type, offset), then the tensors' bytes.
# `read_gguf` parses the header and leaves the data on disk until a tensor is asked for.

# %%
gguf = read_gguf(path)
meta = gguf.metadata
print(f"GGUF version {gguf.version}, {len(gguf.tensors)} tensors, {len(meta)} metadata entries; data starts at "
      f"byte {gguf.data_offset:,} (aligned to {gguf.alignment})")
for key in ("general.architecture", "llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
            "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.freq_base",
            "llama.context_length", "tokenizer.ggml.model"):
    print(f"  {key:<34} {meta[key]}")
print(f"  {'tokenizer.ggml.tokens':<34} {len(meta['tokenizer.ggml.tokens']):,} tokens, e.g. "
      f"{meta['tokenizer.ggml.tokens'][1000:1004]}")

# %% [markdown]
# Now one tensor: the query projection of the first block. It is stored as Q4_1: blocks of 32 weights, each
# block 20 bytes: a float16 scale `d`, a float16 minimum `m`, then 16 bytes holding 32 four-bit codes `q`
# (the low nibbles are the first 16 weights, the high nibbles the next 16). A weight is `q · d + m`, so a
# weight costs 20 × 8 / 32 = 5 bits instead of 32. We decode the first block by hand and compare with our
# reader and with the `gguf` package (llama.cpp's own Python reader).

# %%
name = "blk.0.attn_q.weight"
info = gguf.tensors[name]
print(f"{name}: shape {info.shape}, {info.type_name}, at offset {info.offset:,} of the data")
raw = gguf.read_raw(name)  # the stored bytes
block = raw[:20]
d = block[0:2].view(torch.float16).float()
m = block[2:4].view(torch.float16).float()
codes = block[4:20]
q = torch.cat([codes & 0x0F, codes >> 4]).float()  # low nibbles first, then high nibbles
by_hand = q * d + m
print(f"first block: d = {d.item():.5f}, m = {m.item():.5f}, codes {q[:8].int().tolist()} ...")
ours = gguf.read_tensor(name)  # every block, dequantised to float32
print("by hand equals our reader's first 32 values:", torch.equal(by_hand, ours[0, :32]))
reference = next(t for t in gguf_package.GGUFReader(path).tensors if t.name == name)
theirs = gguf_package.quants.dequantize(reference.data, reference.tensor_type).reshape(info.shape)
print(f"our reader vs the gguf package, whole tensor: largest difference "
      f"{np.abs(ours.numpy() - theirs).max():.1e}")

# %% [markdown]
# ## 2. Our LLaMA, built from the file, generating
# `llama_from_gguf` reads the config from the metadata and every tensor, dequantised to float32 (and undoes
# llama.cpp's row order of the query and key projections, see `gguf_model.py`). Chapter 3's generation loop
# drives it. SmolLM2-Instruct expects its chat format: the tokenizer's chat template wraps the question.

# %%
model = llama_from_gguf(path)
tokenizer = load_tokenizer("smollm2")
print(model.config)
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")

prompt_ids = encode_prompt(tokenizer, "What is the capital of France?", chat=True)
print(repr(tokenizer.decode(prompt_ids)))
stats = GenerationStats()
new_ids = generate(model, prompt_ids, SamplingConfig(max_new_tokens=24, stop_ids=[tokenizer.eos_token_id]), stats)
print("ours:", tokenizer.decode(new_ids, skip_special_tokens=True))
print(f"{stats.new_tokens} tokens, decode {stats.decode_tokens_per_s:.1f} tokens/s "
      f"({torch.get_num_threads()} thread(s))")

# %% [markdown]
# ## 3. RMSNorm and RoPE on tiny tensors
# **RMSNorm** rescales each token's vector to a root mean square of 1, then multiplies by a learned gain. Unlike
# LayerNorm it subtracts no mean and adds no bias: one reduction fewer, and it works as well. PyTorch has it too
# (`torch.nn.RMSNorm`); ours gives the same numbers.

# %%
x = torch.tensor([[3.0, 4.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
norm = RMSNorm(4, eps=1e-6)
print(norm(x))
print("root mean square after RMSNorm:", norm(x).pow(2).mean(-1).sqrt().tolist())
print("equals torch.nn.RMSNorm:", torch.allclose(norm(x), torch.nn.RMSNorm(4, eps=1e-6)(x)))

# %% [markdown]
# **RoPE** rotates each pair of a query's (and key's) dimensions by an angle proportional to the token's position,
# pair `i` turning at frequency θ^(−2i/d). A rotation keeps lengths, and the dot product of a query rotated to
# position m with a key rotated to position n depends only on m − n: attention sees how far apart two tokens are,
# not where they are. Below, a head of 8 dimensions: the same query and key at positions (7, 3) and at (107, 103)
# give the same score; at (7, 5) a different one.

# %%
torch.manual_seed(0)
head_dim, theta = 8, 10000.0
query, key = torch.randn(head_dim), torch.randn(head_dim)


def rotated(vector: torch.Tensor, position: int) -> torch.Tensor:
    cos, sin = rotary_cos_sin(torch.tensor([position]), head_dim, theta)  # (1, head_dim) each
    return apply_rotary(vector.view(1, 1, 1, head_dim), cos, sin).flatten()


def score(m: int, n: int) -> float:
    return float(rotated(query, m) @ rotated(key, n))


print(f"length before {query.norm():.4f}, after rotating to position 50: {rotated(query, 50).norm():.4f}")
print(f"score at positions (7, 3): {score(7, 3):.5f}; at (107, 103): {score(107, 103):.5f}; "
      f"at (7, 5): {score(7, 5):.5f}")
print(f"RoPE: same distance, same score: difference {abs(score(7, 3) - score(107, 103)):.1e}")

# %% [markdown]
# ## 4. Grouped-query attention: a smaller KV cache
# Generation keeps every past token's keys and values, per layer: 2 × layers × key/value heads × head size numbers
# per token. Multi-head attention has one key/value head per query head; grouped-query attention lets a group of
# query heads share one, and the cache shrinks by the group size. SmolLM2 shares 3 key/value heads among 9 query
# heads; Llama 2 70B 8 among 64.

# %%
context = 4096
for arch in (resolve("smollm2")[0], named_models()["llama-2-70b"]):
    with_gqa = kv_bytes(arch, context, 1, "fp16")
    without = kv_bytes(dataclasses.replace(arch, kv_heads=arch.heads), context, 1, "fp16")
    print(f"{arch.name}: {arch.heads} query heads, {arch.kv_heads} key/value heads; KV cache of {context:,} tokens "
          f"in fp16: {with_gqa / 1e9:.3f} GB with GQA, {without / 1e9:.3f} GB without ({without / with_gqa:.0f}× more)")

# %% [markdown]
# ## 5. Would a large model run here?
# The planner sizes a model from its published architecture alone: parameters, weights in each format, the KV
# cache, and a ceiling on decode speed (each new token reads every weight once, so tokens/s ≤ memory bandwidth ÷
# bytes). `z2h plan` prints the same for every model it knows.

# %%
plan = make_plan(named_models()["llama-2-13b"], "q4_0", context=4096)
print(f"{plan.arch.name}: {plan.arch.parameters() / 1e9:.2f} B parameters; weights in fp16 "
      f"{plan.weights_by_format['fp16'] / 1e9:.1f} GB, in q4_0 {plan.weights_bytes / 1e9:.1f} GB; "
      f"KV cache {plan.kv_bytes / 1e9:.2f} GB")
print(f"this machine: RAM {plan.ram.total_bytes / 1e9:.1f} GB ({plan.ram.available_bytes / 1e9:.1f} GB free), "
      f"copy bandwidth {plan.bandwidth_gb_per_s:.1f} GB/s")
print(f"fits: {plan.fits}; decode at most {plan.tokens_per_s:.2f} tokens/s")

# %% [markdown]
# ## 6. The same file in llama.cpp
# llama.cpp reads the GGUF file directly and computes with the 4-bit blocks as they are stored, never expanding
# them to float32: its hand-written CPU kernels round each activation vector to 8-bit blocks too and take integer
# dot products. So its logits are close to ours, not equal, and where two next tokens are nearly tied, greedy
# decoding can go another way. Same file, same prompt: compare the logits, the answer and the speed.

# %%
if llamacpp_available():
    scorer = load(path, n_ctx=512, logits_all=True)  # keeps every position's logits
    theirs = torch.from_numpy(token_logits(scorer, prompt_ids))  # (prompt tokens, vocab)
    with torch.inference_mode():
        ours = model(torch.tensor([prompt_ids]))[0][0]  # (prompt tokens, vocab)
    print(f"llama.cpp vs ours on the prompt's logits: largest difference {(theirs - ours).abs().max():.2f} "
          f"(logits reach {ours.abs().max():.1f}); same next token after the prompt: "
          f"{theirs[-1].argmax() == ours[-1].argmax()}")
    del scorer  # each llama.cpp model holds its own copy of the weights
    llm = load(path, n_ctx=512)
    answer = generate_greedy(llm, prompt_ids, max_new_tokens=24)
    print("llama.cpp:", answer.text)
    print(f"llama.cpp: {len(answer.ids)} tokens, decode {answer.decode_tokens_per_s:.1f} tokens/s "
          f"({torch.get_num_threads()} thread(s)), {answer.decode_tokens_per_s / stats.decode_tokens_per_s:.1f}× ours")
    del llm
else:
    print(f"llama.cpp is not installed. To run this section: {INSTALL_HINT}")

# %% [markdown]
# ## 7. A lightweight LoRA fine-tune, its resources noted
# The curriculum's last exercise: fine-tune a LLaMA-like model with LoRA on a small subset of data and write down
# what it cost. SmolLM2 reads a few windows of Jane Austen's novels (the course corpus) and learns a little of
# her page; we note the training time, the tokens per second, the process's peak memory, the trainable share and
# the adapter's size, and the perplexity on held-out paragraphs of hers before and after. This runs on the CPU,
# here or on a Colab machine (install the course there with `pip install` of its repository); the lab
# (`z2h lab 7 --full`) does it at a larger size, next to PEFT, and deploys the result to llama.cpp.

# %%
small = StyleConfig(windows=16, length=64, batch_size=2, steps=8, eval_tokens=256, new_tokens=16)
text = austen_text(small.eval_tokens, prompts=1)
with tempfile.TemporaryDirectory() as scratch:
    result = style_finetune(small, text, Path(scratch), libraries=("zero2hero",))
record = result.runs["zero2hero"]
print(f"LoRA r={small.rank} on {small.targets}: {record.trainable_parameters:,} trainable of "
      f"{record.total_parameters:,} ({100 * record.trainable_parameters / record.total_parameters:.2f} %)")
print(f"{small.steps} steps, {small.trained_tokens:,} tokens in {record.train_s:.1f} s "
      f"({record.tokens_per_s:.0f} tokens/s); peak memory {record.peak_mb:,.0f} MB; adapter {record.adapter_mb:.2f} MB")
print(f"held-out Austen perplexity: {result.before_ppl:.2f} before -> {record.heldout_ppl:.2f} after")
print("prompt:", text.prompts[0])
print("before:", result.before_generations[0])
print("after: ", record.generations[0])
