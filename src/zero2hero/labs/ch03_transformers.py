"""Lab 3 — SmolLM2-135M-Instruct on the CPU: decoding settings side by side, attention heatmaps of a real
sentence, tokens/s with and without the KV cache, and our generation loop against ``model.generate``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from zero2hero.reporting import LabResult, RunContext, Table  # noqa: E402
from zero2hero.transformer.generate import GenerationStats, SamplingConfig, encode_prompt, generate  # noqa: E402

CHAPTER = 3
TITLE = "Lab 3 — Transformers: generation, attention and the KV cache on the CPU"

SETTINGS = {
    "greedy": {},
    "t=0.7, top-k 50": {"temperature": 0.7, "top_k": 50},
    "t=1.0, top-p 0.9": {"temperature": 1.0, "top_p": 0.9},
    "greedy, rep. penalty 1.3": {"repetition_penalty": 1.3},
}


@dataclass
class Config:
    quick: bool = True
    prompts: list[str] = field(default_factory=lambda: [
        "The three most important inventions of the last century are",
        "Write a haiku about the sea.", "Explain what a transformer model is in one sentence."])
    new_tokens: int = 48
    speed_tokens: int = 128
    sentence: str = "The animal did not cross the street because it was too tired."

    def __post_init__(self) -> None:
        if self.quick:
            self.prompts, self.new_tokens, self.speed_tokens = self.prompts[:1], 8, 16


def run(config: Config, ctx: RunContext) -> LabResult:
    from zero2hero.assets import load_causal_lm

    result = LabResult("ch03_transformers", TITLE)
    ctx.step("load SmolLM2-135M-Instruct")
    model, tok = load_causal_lm("smollm2")
    eos = [tok.eos_token_id]
    ctx.step("decoding settings side by side")
    rows = []
    for prompt in config.prompts:
        ids = encode_prompt(tok, prompt, chat=True)
        for name, kw in SETTINGS.items():
            out = generate(model, ids, SamplingConfig(config.new_tokens, stop_ids=eos, seed=0, **kw))
            rows.append([prompt, name, tok.decode(out, skip_special_tokens=True).replace("\n", " ⏎ ")])
    result.tables.append(Table("Continuations per decoding setting (chat template, seed 0)",
                               ["prompt", "setting", "output"], rows))
    ctx.step("our loop vs model.generate (greedy)")
    ids = encode_prompt(tok, "The history of the printing press")
    cfg = SamplingConfig(config.speed_tokens)
    with torch.inference_mode():
        t0 = time.perf_counter()
        ref = model.generate(torch.tensor([ids]), max_new_tokens=config.speed_tokens, do_sample=False,
                             min_new_tokens=config.speed_tokens, pad_token_id=eos[0])[0, len(ids):].tolist()
        hf_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = generate(model, ids, cfg)
    ours_s = time.perf_counter() - t0
    same = sum(1 for _ in zip(ours, ref, strict=False)) if ours == ref else next(
        i for i, (a, b) in enumerate(zip(ours, ref, strict=False)) if a != b)
    result.add_metric("identical_greedy_tokens", same, "tokens", f"of {config.speed_tokens}, ours vs model.generate")
    result.add_metric("ours_vs_generate_speed_ratio", hf_s / ours_s, "×", "> 1: our loop is faster")
    ctx.step("KV cache vs no cache")
    speeds = {}
    for use_cache in (True, False):
        stats = GenerationStats()
        generate(model, ids, SamplingConfig(config.speed_tokens, use_cache=use_cache), stats)
        speeds[use_cache] = config.speed_tokens / (stats.prefill_seconds + stats.decode_seconds)
    result.add_metric("cache_tokens_per_s", speeds[True], "tokens/s", "greedy with KV cache")
    result.add_metric("no_cache_tokens_per_s", speeds[False], "tokens/s", "greedy, full sequence every step")
    result.add_metric("kv_cache_speedup", speeds[True] / speeds[False], "×", f"at {config.speed_tokens} new tokens")
    ctx.step("attention heatmaps")
    _heatmaps(model, tok, config.sentence, ctx)
    result.notes.append(f"our loop reproduced {same} of {config.speed_tokens} greedy tokens of model.generate; "
                        f"the KV cache made generation {speeds[True] / speeds[False]:.1f}× faster "
                        f"({speeds[True]:.1f} vs {speeds[False]:.1f} tokens/s).")
    return result


def _heatmaps(model, tok, sentence: str, ctx: RunContext) -> None:  # noqa: ANN001
    ids = tok(sentence, return_tensors="pt")
    model.set_attn_implementation("eager")  # the fused SDPA kernel does not return its weights
    with torch.inference_mode():
        att = model(**ids, output_attentions=True).attentions  # per layer (1, head, n, n)
    model.set_attn_implementation("sdpa")
    labels = [tok.decode([i]) for i in ids["input_ids"][0]]
    picks = [(0, 0), (0, 3), (len(att) // 2, 0), (len(att) - 1, 1)]
    fig, axes = plt.subplots(1, len(picks), figsize=(5 * len(picks), 5))
    for ax, (layer, head) in zip(axes, picks, strict=True):
        ax.imshow(att[layer][0, head].float().numpy(), cmap="viridis")
        ax.set_title(f"layer {layer}, head {head}")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, "attention_heads.png", "Attention weights of SmolLM2 on one sentence",
                    "rows: query token, columns: key token; the upper triangle is zero (causal mask)")
    plt.close(fig)
