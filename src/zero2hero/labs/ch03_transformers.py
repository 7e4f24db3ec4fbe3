"""Lab 3 — SmolLM2-135M-Instruct on the CPU: decoding settings side by side, attention heatmaps of a real
sentence, tokens/s with and without the KV cache, and our generation loop against ``model.generate``; then two
tiny models of our own, a masked-LM encoder and a causal-LM decoder trained alike, and what each can do."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from zero2hero.reporting import Figure, LabResult, RunContext, Table  # noqa: E402
from zero2hero.transformer import mlm_vs_clm as mc  # noqa: E402
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
    family_prompt_tokens: int = 128  # speed of the gpt2 / distilgpt2 shapes
    family_new_tokens: int = 32
    mlm_clm_steps: int = 3000  # training steps of each tiny model (quick mode: 1,000, the fewest where MLM wins)
    mlm_clm_train_chars: int = 200_000  # characters of the course corpus both models train on
    mlm_clm_heldout_chars: int = 50_000
    blanks: list[str] = field(default_factory=lambda: ["It is a tr_th univ_rsally kn_wn", "She was h_ppy to s_e her"])
    continue_prompts: list[str] = field(default_factory=lambda: ["It is a truth universally ", "Mr. Darcy said "])
    continue_chars: int = 40

    def __post_init__(self) -> None:
        if self.quick:
            self.prompts, self.new_tokens, self.speed_tokens = self.prompts[:1], 8, 16
            self.mlm_clm_steps = min(self.mlm_clm_steps, 1000)
            self.family_prompt_tokens, self.family_new_tokens = 32, 8


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
    result.figures.append(_heatmaps(model, tok, config.sentence, ctx))
    result.notes.append(f"our loop reproduced {same} of {config.speed_tokens} greedy tokens of model.generate; "
                        f"the KV cache made generation {speeds[True] / speeds[False]:.1f}× faster "
                        f"({speeds[True]:.1f} vs {speeds[False]:.1f} tokens/s).")
    ctx.step("BERT, GPT-2 and DistilGPT-2: size from their configurations, decoder speed")
    _families(config, result)
    ctx.step("MLM vs CLM: two tiny models, same text, same budget")
    _mlm_vs_clm(config, ctx, result)
    return result


def _families(config: Config, result: LabResult) -> None:
    from zero2hero.transformer.families import curriculum_models, decoder_speed

    rows = []
    for family in curriculum_models():
        result.add_metric(f"{family.name}_parameters", family.parameters, "parameters", "counted from its config")
        speed = ["", ""]
        if family.kind == "decoder":
            stats = decoder_speed(family.layers, config.family_prompt_tokens, config.family_new_tokens)
            speed = [round(stats.prefill_tokens_per_s, 1), round(stats.decode_tokens_per_s, 2)]
            result.add_metric(f"{family.name}_decode_tokens_per_s", stats.decode_tokens_per_s, "tokens/s",
                              "our GPT-2 of this shape, random weights, fp32, KV cache")
        rows.append([family.name, family.kind, family.objective, family.layers, family.width, family.heads,
                     f"{family.parameters / 1e6:.1f} M", *speed, family.typical_use])
    result.tables.append(Table(
        "The pre-trained models of the chapter", ["model", "kind", "pre-training", "layers", "width", "heads",
                                                 "parameters", "prefill tok/s", "decode tok/s", "used for"], rows,
        f"parameters counted from transformers' configurations on the meta device (no download); speeds of our GPT-2 "
        f"of each shape with random weights ({config.family_prompt_tokens}-token prompt, "
        f"{config.family_new_tokens} new tokens)"))
    m = {x.name: x.value for x in result.metrics}
    result.notes.append(
        f"distilgpt2 has {m['distilgpt2_parameters'] / m['gpt2_parameters']:.0%} of gpt2's parameters (half the "
        f"layers; the token embedding, shared with the output layer, stays whole) and decoded "
        f"{m['distilgpt2_decode_tokens_per_s'] / m['gpt2_decode_tokens_per_s']:.2f}× as fast here.")


def _heatmaps(model, tok, sentence: str, ctx: RunContext) -> Figure:  # noqa: ANN001
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
    return ctx.save_figure(fig, "attention_heads.png", "Attention weights of SmolLM2 on one sentence",
                           "rows: query token, columns: key token; the upper triangle is zero (causal mask)")


def _texts(config: Config) -> tuple[str, str, str]:
    """(training text, held-out text, where they come from), whitespace runs collapsed to one space."""
    from zero2hero.corpus import heldout_text, training_text
    from zero2hero.errors import AssetMissingError

    try:
        train, heldout = training_text()[: config.mlm_clm_train_chars], heldout_text(config.mlm_clm_heldout_chars)
        source = f"the course corpus ({config.mlm_clm_train_chars:,} training characters)"
    except AssetMissingError:
        from zero2hero.text.normalize import strip_html
        from zero2hero.text.samples import raw_article

        article = strip_html(raw_article())
        cut = len(article) * 9 // 10
        train, heldout = article[:cut], article[cut:]
        source = ("Chapter 1's practice article, because the course corpus is not installed (`make setup`): too "
                  "little text for the comparison to mean much")
    return " ".join(train.split()), " ".join(heldout.split()), source


def _mlm_vs_clm(config: Config, ctx: RunContext, result: LabResult) -> None:
    train, heldout, source = _texts(config)
    cfg = mc.TinyLMConfig(steps=config.mlm_clm_steps)
    lms = {objective: mc.train(objective, train, cfg) for objective in mc.OBJECTIVES}
    for objective, lm in lms.items():
        kind = "encoder" if objective == "mlm" else "decoder"
        result.add_metric(f"{objective}_fill_in_accuracy", mc.fill_in_accuracy(lm, heldout), "ratio",
                          f"{kind}: one held-out character hidden at a random inner position, guessed right")
        result.add_metric(f"{objective}_next_char_accuracy", mc.next_char_accuracy(lm, heldout), "ratio",
                          f"{kind}: the next held-out character from the {cfg.block_size - 1} before it")
        result.add_metric(f"{objective}_train_seconds", lm.seconds, "s", f"{kind}: {cfg.steps} steps on the CPU")
    result.add_metric("mlm_clm_steps", cfg.steps, "steps", f"each model, batches of {cfg.batch_size} × "
                      f"{cfg.block_size} characters")
    result.add_metric("mlm_clm_parameters", lms["mlm"].parameters, "parameters", "each model (the same network)")
    rows = [["fill the blanks", text, *(mc.fill_blanks(lm, text) for lm in lms.values())] for text in config.blanks]
    rows += [["continue", prompt, *(mc.continue_text(lm, prompt, config.continue_chars) for lm in lms.values())]
             for prompt in config.continue_prompts]
    result.tables.append(Table(
        "MLM vs CLM: the same blanks and prompts", ["task", "input", "MLM (encoder)", "CLM (decoder)"], rows,
        "greedy; the encoder fills every blank at once from both sides and continues by filling a [MASK] appended "
        "to the text; the decoder fills blanks left to right and continues with its next-character prediction"))
    result.figures.append(_loss_curves(lms, ctx))
    m = {x.name: x.value for x in result.metrics}
    result.notes.append(
        f"Two {lms['mlm'].parameters:,}-parameter character models trained on {source} for {cfg.steps} steps each: "
        f"the encoder (MLM) filled {m['mlm_fill_in_accuracy']:.0%} of held-out blanks against "
        f"{m['clm_fill_in_accuracy']:.0%} for the decoder (CLM), which sees only the left side; at the next "
        f"character the decoder was right {m['clm_next_char_accuracy']:.0%} of the time, the encoder "
        f"{m['mlm_next_char_accuracy']:.0%}. MLM learns only from the {cfg.mask_prob:.0%} of positions it masks, "
        "CLM from every position: per step the decoder gets several times more training signal, and the encoder "
        "needs more steps before seeing both sides pays off.")


def _loss_curves(lms: dict[str, mc.TrainedLM], ctx: RunContext) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    for objective, lm in lms.items():
        losses = torch.tensor(lm.losses)
        window = max(1, len(losses) // 50)
        # A moving average over ~2 % of the steps: one batch's loss is noisy, the trend is what matters.
        smooth = losses.unfold(0, window, 1).mean(1)
        ax.plot(range(window, len(losses) + 1), smooth, label=f"{objective.upper()} ({lm.seconds:.1f} s)")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats per predicted character)")
    ax.legend()
    return ctx.save_figure(fig, "mlm_vs_clm_loss.png", "Training loss of the two tiny models",
                           "MLM's loss counts only the masked positions, CLM's every position; each curve shows one "
                           "model learning, the accuracies above compare them")
