"""Lab 3 — SmolLM2-135M-Instruct on the CPU: decoding settings side by side, attention heatmaps of a real
sentence, tokens/s with and without the KV cache, and our generation loop against ``model.generate``; then two
tiny models of our own, a masked-LM encoder and a causal-LM decoder trained alike, and what each can do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure
from zero2hero.transformer import mlm_vs_clm as mc
from zero2hero.transformer.generate import SamplingConfig, encode_prompt, generate

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from zero2hero.transformer.speed import DecodeComparison

CHAPTER = 3
TITLE = "Lab 3 — Transformers: generation, attention and the KV cache on the CPU"

SETTINGS = {
    "greedy": {},
    "t=0.7, top-k 50": {"temperature": 0.7, "top_k": 50},
    "t=1.0, top-p 0.9": {"temperature": 1.0, "top_p": 0.9},
    "greedy, rep. penalty 1.3": {"repetition_penalty": 1.3},
}
PROMPTS = ["The three most important inventions of the last century are", "Write a haiku about the sea.",
           "Explain what a transformer model is in one sentence."]
SPEED_PROMPT = "The history of the printing press"


@dataclass
class Config:
    quick: bool = True
    prompts: list[str] = field(default_factory=lambda: list(PROMPTS))  # `z2h lab 3 --prompts FILE` sets them
    new_tokens: int = 48
    speed_tokens: int = 128
    speed_rounds: int = 2  # our loop and model.generate alternate; each keeps its best round
    sentence: str = "The animal did not cross the street because it was too tired."
    family_prompt_tokens: int = 128  # speed of the gpt2 / distilgpt2 shapes
    family_new_tokens: int = 32
    mlm_clm_steps: int = 3000  # training steps of each tiny model
    mlm_clm_train_chars: int = 200_000  # characters of the course corpus both models train on
    mlm_clm_heldout_chars: int = 50_000
    blanks: list[str] = field(default_factory=lambda: ["It is a tr_th univ_rsally kn_wn", "She was h_ppy to s_e her"])
    continue_prompts: list[str] = field(default_factory=lambda: ["It is a truth universally ", "Mr. Darcy said "])
    continue_chars: int = 40


# 1,000 MLM/CLM steps: the fewest at which the encoder's use of right-hand context shows.
QUICK = {"prompts": PROMPTS[:1], "new_tokens": 8, "speed_tokens": 16, "mlm_clm_steps": 1000,
         "family_prompt_tokens": 32, "family_new_tokens": 8}


def run(config: Config, ctx: RunContext) -> LabResult:
    from zero2hero.assets import load_causal_lm

    result = LabResult(title=TITLE)
    ctx.step("load SmolLM2-135M-Instruct")
    model, tok = load_causal_lm("smollm2")
    ctx.step(f"decoding settings side by side on {len(config.prompts)} prompt(s)")
    result.add(_decoding_settings(model, tok, config))
    ctx.step("our loop (with and without the KV cache) vs model.generate, greedy")
    result.add(_decoding_speed(model, tok, config))
    ctx.step("attention heatmaps")
    result.add(Section(figures=[_heatmaps(model, tok, config.sentence, ctx)]))
    ctx.step("BERT, GPT-2 and DistilGPT-2: size from their configurations, decoder speed")
    result.add(_families(config))
    ctx.step("MLM vs CLM: two tiny models, same text, same budget")
    result.add(_mlm_vs_clm(config, ctx))
    return result


def _decoding_settings(model: PreTrainedModel, tok: PreTrainedTokenizerBase, config: Config) -> Section:
    rows = []
    for prompt in config.prompts:
        ids = encode_prompt(tok, prompt, chat=True)
        for name, kw in SETTINGS.items():
            out = generate(model, ids, SamplingConfig(config.new_tokens, stop_ids=[tok.eos_token_id], seed=0, **kw))
            rows.append([prompt, name, tok.decode(out, skip_special_tokens=True).replace("\n", " ⏎ ")])
    return Section(tables=[Table("Continuations per decoding setting (chat template, seed 0)",
                                 ["prompt", "setting", "output"], rows)])


def _decoding_speed(model: PreTrainedModel, tok: PreTrainedTokenizerBase, config: Config) -> Section:
    from zero2hero.transformer.speed import compare_decoding

    ids = encode_prompt(tok, SPEED_PROMPT)
    c = compare_decoding(model, ids, config.speed_tokens, tok.eos_token_id, rounds=config.speed_rounds)
    section = Section(tables=[_speed_table(c)])
    section.metric("greedy_identical_prefix_count", c.identical_prefix(),
                   f"leading tokens of {c.new_tokens} where our loop equals model.generate")
    section.metric("speedup_ours_over_generate_ratio", c.ratio("ours_cache", "generate"),
                   "> 1: our loop (KV cache) is faster than model.generate")
    section.metric("speedup_cache_over_no_cache_ratio", c.ratio("ours_cache", "ours_no_cache"),
                   f"our loop at {c.new_tokens} new tokens")
    section.metric("ours_cache_decode_tokens_per_s", c.runs["ours_cache"].stats.decode_tokens_per_s,
                   "greedy with the KV cache")
    section.metric("ours_no_cache_decode_tokens_per_s", c.runs["ours_no_cache"].stats.decode_tokens_per_s,
                   "greedy, full sequence every step")
    section.notes.append(
        f"our loop reproduced {c.identical_prefix()} of {c.new_tokens} greedy tokens of model.generate and ran "
        f"{c.ratio('ours_cache', 'generate'):.2f}× its speed; the KV cache made our loop "
        f"{c.ratio('ours_cache', 'ours_no_cache'):.1f}× faster than recomputing the whole sequence every step.")
    return section


def _speed_table(c: DecodeComparison) -> Table:
    rows = []
    for name, r in c.runs.items():
        decode = round(r.stats.decode_tokens_per_s, 2) if r.stats else ""
        rows.append([name, round(r.seconds, 3), round(c.new_tokens / r.seconds, 2), decode, round(r.peak_added_mb)])
    return Table(f"Greedy, {c.new_tokens} new tokens, {SPEED_PROMPT!r} (best of alternating rounds)",
                 ["engine", "seconds", "tokens/s (all)", "decode tokens/s", "peak +MB"], rows)


def _families(config: Config) -> Section:
    from zero2hero.transformer.families import curriculum_models, decoder_speeds

    families = curriculum_models()
    speeds = decoder_speeds({f.name: f.layers for f in families if f.kind == "decoder"},
                            config.family_prompt_tokens, config.family_new_tokens, rounds=config.speed_rounds)
    rows, section = [], Section()
    for family in families:
        name = family.name.replace("-", "_")
        section.metric(f"{name}_parameters_count", family.parameters, "counted from its config")
        speed = ["", ""]
        if family.kind == "decoder":
            stats = speeds[family.name]
            speed = [round(stats.prefill_tokens_per_s, 1), round(stats.decode_tokens_per_s, 2)]
            section.metric(f"{name}_decode_tokens_per_s", stats.decode_tokens_per_s,
                           "our GPT-2 of this shape, random weights, fp32, KV cache")
        rows.append([family.name, family.kind, family.objective, family.layers, family.width, family.heads,
                     f"{family.parameters / 1e6:.1f} M", *speed, family.typical_use])
    section.tables.append(Table(
        "The pre-trained models of the chapter", ["model", "kind", "pre-training", "layers", "width", "heads",
                                                 "parameters", "prefill tok/s", "decode tok/s", "used for"], rows,
        f"parameters counted from transformers' configurations on the meta device (no download); speeds of our GPT-2 "
        f"of each shape with random weights ({config.family_prompt_tokens}-token prompt, "
        f"{config.family_new_tokens} new tokens)"))
    m = section.value
    section.notes.append(
        f"distilgpt2 has {m('distilgpt2_parameters_count') / m('gpt2_parameters_count'):.0%} of gpt2's parameters "
        f"(half the layers; the token embedding, shared with the output layer, stays whole) and decoded "
        f"{m('distilgpt2_decode_tokens_per_s') / m('gpt2_decode_tokens_per_s'):.2f}× as fast here.")
    return section


def _heatmaps(model: PreTrainedModel, tok: PreTrainedTokenizerBase, sentence: str, ctx: RunContext) -> Figure:
    ids = tok(sentence, return_tensors="pt")
    model.set_attn_implementation("eager")  # the fused SDPA kernel does not return its weights
    with torch.inference_mode():
        att = model(**ids, output_attentions=True).attentions  # per layer (1, head, n, n)
    model.set_attn_implementation("sdpa")
    labels = [tok.decode([i]) for i in ids["input_ids"][0]]
    picks = [(0, 0), (0, 3), (len(att) // 2, 0), (len(att) - 1, 1)]
    fig, axes = new_figure((5 * len(picks), 5), ncols=len(picks))
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


def _mlm_vs_clm(config: Config, ctx: RunContext) -> Section:
    train, heldout, source = _texts(config)
    cfg = mc.TinyLMConfig(steps=config.mlm_clm_steps)
    lms = {objective: mc.train(objective, train, cfg) for objective in mc.OBJECTIVES}
    section = Section()
    for objective, lm in lms.items():
        kind = "encoder" if objective == "mlm" else "decoder"
        section.metric(f"{objective}_fill_in_accuracy", mc.fill_in_accuracy(lm, heldout),
                       f"{kind}: one held-out character hidden at a random inner position, guessed right")
        section.metric(f"{objective}_next_char_accuracy", mc.next_char_accuracy(lm, heldout),
                       f"{kind}: the next held-out character from the {cfg.block_size - 1} before it")
        section.metric(f"{objective}_train_s", lm.seconds, f"{kind}: {cfg.steps} steps on the CPU")
    section.metric("mlm_clm_steps_count", cfg.steps,
                   f"each model, batches of {cfg.batch_size} × {cfg.block_size} characters")
    section.metric("mlm_clm_parameters_count", lms["mlm"].parameters, "each model (the same network)")
    rows = [["fill the blanks", text, *(mc.fill_blanks(lm, text) for lm in lms.values())] for text in config.blanks]
    rows += [["continue", prompt, *(mc.continue_text(lm, prompt, config.continue_chars) for lm in lms.values())]
             for prompt in config.continue_prompts]
    section.tables.append(Table(
        "MLM vs CLM: the same blanks and prompts", ["task", "input", "MLM (encoder)", "CLM (decoder)"], rows,
        "greedy; the encoder fills every blank at once from both sides and continues by filling a [MASK] appended "
        "to the text; the decoder fills blanks left to right and continues with its next-character prediction"))
    section.figures.append(_loss_curves(lms, ctx))
    m = {x.name: x.value for x in section.metrics}
    section.notes.append(
        f"Two {lms['mlm'].parameters:,}-parameter character models trained on {source} for {cfg.steps} steps each: "
        f"the encoder (MLM) filled {m['mlm_fill_in_accuracy']:.0%} of held-out blanks against "
        f"{m['clm_fill_in_accuracy']:.0%} for the decoder (CLM), which sees only the left side; at the next "
        f"character the decoder was right {m['clm_next_char_accuracy']:.0%} of the time, the encoder "
        f"{m['mlm_next_char_accuracy']:.0%}. MLM learns only from the {cfg.mask_prob:.0%} of positions it masks, "
        "CLM from every position: per step the decoder gets several times more training signal, and the encoder "
        "needs more steps before seeing both sides pays off.")
    return section


def _loss_curves(lms: dict[str, mc.TrainedLM], ctx: RunContext) -> Figure:
    fig, ax = new_figure((7, 4))
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
