"""Lab 7, a fine-tune and its deployment: SmolLM2 learns Jane Austen's style with LoRA (ours and PEFT, the same
steps), what that cost (time, memory, parameters, adapter size) and changed (perplexity, continuations); then the
adapter merged, written as GGUF at four formats and run by our reader and by llama.cpp.

Two steps of :func:`zero2hero.labs.ch07_llama_models.run`, the methods of :class:`AustenSteps`, on
:mod:`zero2hero.llama.style_finetune` and :mod:`zero2hero.llama.gguf_deploy`. The adapters, the merged model and the
GGUF files are written into a scratch folder the lab removes when it ends.
"""

from __future__ import annotations

from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.llama.gguf_deploy import DeployConfig, DeployResult
from zero2hero.llama.style_finetune import FULL, QUICK, StyleConfig, StyleResult
from zero2hero.reporting import Figure, RunContext, Section, Table, new_figure

STYLE_CONFIGS = {"quick": QUICK, "full": FULL}
SHOWN = {"zero2hero": ("ours", "zero2hero (ours)"), "peft": ("peft", "PEFT")}  # library -> metric key, table name
DEPLOYED = "zero2hero"  # the adapter that is merged and deployed


def style_config(name: str) -> StyleConfig:
    if name not in STYLE_CONFIGS:
        raise InputError(f"no style fine-tune size named {name!r}", f"choose {' or '.join(STYLE_CONFIGS)}")
    return STYLE_CONFIGS[name]


class AustenSteps:
    """What the two steps share: the settings, the scratch folder, and the fine-tune's result."""

    def __init__(self, size: str, compare_base: bool, ctx: RunContext, scratch: Path) -> None:
        self.config, self.compare_base, self.ctx, self.scratch = style_config(size), compare_base, ctx, scratch

    def finetune(self) -> Section:
        from zero2hero.llama.style_finetune import austen_text, style_finetune

        c = self.config
        self.style = style = style_finetune(c, austen_text(c.eval_tokens), self.scratch / "style")
        section = Section()
        section.metric("style_base_heldout_ppl", style.before_ppl, f"SmolLM2 before, {c.eval_tokens} held-out tokens")
        for library, record in style.runs.items():
            key = SHOWN[library][0]
            section.metric(f"style_{key}_train_s", record.train_s, f"{c.steps} steps of {c.batch_size} × {c.length}")
            section.metric(f"style_{key}_tokens_per_s", record.tokens_per_s, "trained tokens per second")
            section.metric(f"style_{key}_peak_mb", record.peak_mb, "highest resident memory while training")
            section.metric(f"style_{key}_trainable_count", record.trainable_parameters, f"LoRA r={c.rank}")
            section.metric(f"style_{key}_adapter_mb", record.adapter_mb, "adapter_model.safetensors")
            section.metric(f"style_{key}_heldout_ppl", record.heldout_ppl, "after the fine-tune")
        section.tables.append(Table(
            f"LoRA fine-tune of SmolLM2 on Jane Austen: r={c.rank}, alpha {c.alpha:g} on {c.targets}, {c.steps} steps "
            f"of {c.batch_size} × {c.length} tokens, learning rate {c.learning_rate:g}",
            ["library", "trainable", "of all", "train s", "tokens/s", "peak MB", "added MB", "adapter MB",
             "perplexity before → after"], record_rows(style),
            f"Both runs start from the same weights, draw the same LoRA matrices and see the same {c.windows} windows "
            f"of the novels' training parts; perplexity on {c.eval_tokens:,} held-out tokens (the last 5 % of each "
            "novel, never trained on). Peak: the process's resident memory while training, model included; added: "
            "over what it held before the first step."))
        section.tables.append(generation_table(style))
        section.figures.append(self._loss_figure(style))
        return section

    def deploy(self) -> Section:
        from zero2hero.llama.gguf_deploy import deploy_adapter

        style, c = self.style, self.config  # set by finetune(), the step before
        config = DeployConfig(eval_tokens=c.eval_tokens, window=c.length, new_tokens=c.new_tokens,
                              compare_base=self.compare_base)
        deployed = deploy_adapter(style.runs[DEPLOYED].adapter_dir, self.scratch / "deploy", style.text.heldout,
                                  style.text.prompts[0], config)
        section = Section()
        section.metric("deploy_merged_ppl", deployed.merged_ppl, "the merged transformers model, float32")
        for record in deployed.formats:
            section.metric(f"deploy_{record.fmt}_file_mb", record.file_mb, "the fine-tuned model's GGUF file")
            section.metric(f"deploy_{record.fmt}_ours_ppl", record.tuned.ours_ppl, "our reader and model")
            if record.tuned.llamacpp_ppl is not None:
                section.metric(f"deploy_{record.fmt}_llamacpp_ppl", record.tuned.llamacpp_ppl, "llama.cpp")
            if record.base is not None:
                section.metric(f"deploy_{record.fmt}_base_ours_ppl", record.base.ours_ppl, "the base model, ours")
        section.tables.append(Table(
            f"The fine-tuned model deployed: merged, written as GGUF, scored on {deployed.eval_tokens:,} held-out "
            f"Austen tokens", ["format", "file MB", "write s", "fine-tuned ppl, ours", "fine-tuned ppl, llama.cpp",
                               "base ppl, ours", "base ppl, llama.cpp", "fine-tune kept"],
            deploy_rows(deployed),
            f"Merged with chapter 6's merge (perplexity {deployed.merged_ppl:.2f} in transformers, float32), converted "
            f"to our Llama and written by zero2hero's GGUF writer. Fine-tune kept: the fine-tuned file's perplexity "
            f"(ours) is below the base model's in the same format"
            + ("." if self.compare_base else
               f"; quick mode does not write the base at each format (—): its float32 perplexity on the same tokens "
               f"is {style.before_ppl:.2f}, and the full lab scores it in every format.")))
        section.tables.append(Table(
            f"One greedy continuation per format (up to {c.new_tokens} tokens)", ["format", "ours", "llama.cpp"],
            [[record.fmt.upper(), one_line(record.tuned.ours_generation),
              one_line(record.tuned.llamacpp_generation) if record.tuned.llamacpp_generation is not None
              else "not installed"] for record in deployed.formats],
            f"Prompt: “{deployed.prompt}”, the opening of a held-out paragraph."))
        if deployed.llamacpp_missing:
            section.notes.append(f"llama.cpp is not installed here, so only our reader scored the GGUF files. To "
                                 f"install it: {deployed.llamacpp_missing}")
        return section

    def _loss_figure(self, style: StyleResult) -> Figure:
        fig, ax = new_figure((6.5, 4))
        for library, record in style.runs.items():
            ax.plot(range(1, len(record.losses) + 1), record.losses, marker="o", markersize=3,
                    linestyle="-" if library == DEPLOYED else "--", label=SHOWN[library][1])
        ax.set(xlabel="optimizer step", ylabel="training loss (nats/token)",
               title="SmolLM2 learning Jane Austen's style with LoRA")
        ax.legend(fontsize=8)
        return self.ctx.save_figure(fig, "style_loss_curves.png", "LoRA fine-tune on Jane Austen: training loss",
                                    "Ours and PEFT on the same batches from the same start: the curves should "
                                    "lie on each other.")


def one_line(text: str) -> str:
    return " ".join(text.split())


def record_rows(style: StyleResult) -> list[list[object]]:
    """One row per library: what the fine-tune cost and the perplexity it moved."""
    return [[SHOWN[library][1], f"{r.trainable_parameters:,}", f"{r.trainable_parameters / r.total_parameters:.3%}",
             f"{r.train_s:.1f}", f"{r.tokens_per_s:.0f}", f"{r.peak_mb:.0f}", f"{r.added_mb:.0f}",
             f"{r.adapter_mb:.2f}", f"{style.before_ppl:.2f} → {r.heldout_ppl:.2f}"]
            for library, r in style.runs.items()]


def generation_table(style: StyleResult) -> Table:
    """Prompt, Austen's own words, the base model's and each fine-tuned model's greedy continuation."""
    text, runs = style.text, style.runs
    rows = [[prompt, original, one_line(before), *(one_line(run.generations[i]) for run in runs.values())]
            for i, (prompt, original, before) in enumerate(zip(text.prompts, text.originals,
                                                               style.before_generations, strict=True))]
    return Table(f"Greedy continuations of held-out openings (up to {style.config.new_tokens} tokens), before and "
                 "after", ["prompt", "Austen wrote", "SmolLM2 before",
                           *(f"fine-tuned, {SHOWN[library][1]}" for library in runs)], rows,
                 "Openings of paragraphs from the held-out end of three novels, never trained on.")


def deploy_rows(deployed: DeployResult) -> list[list[object]]:
    """One row per GGUF format: size, write time, perplexities ours/llama.cpp of the fine-tuned and the base model,
    and whether the fine-tuned file still beats the base in that format (— when the base was not scored)."""
    def ppl(value: float | None) -> str:
        return f"{value:.2f}" if value is not None else "—"

    rows = []
    for r in deployed.formats:
        base = r.base
        kept = "—" if base is None else ("yes" if r.tuned.ours_ppl < base.ours_ppl else "no")
        rows.append([r.fmt.upper(), f"{r.file_mb:.1f}", f"{r.write_s:.1f}", ppl(r.tuned.ours_ppl),
                     ppl(r.tuned.llamacpp_ppl), ppl(base.ours_ppl if base else None),
                     ppl(base.llamacpp_ppl if base else None), kept])
    return rows
