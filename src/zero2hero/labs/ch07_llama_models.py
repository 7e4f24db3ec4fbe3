"""Lab 7 — LLaMA-like models: SmolLM2's architecture read from its GGUF file, our from-scratch LLaMA against
transformers on the same weights, what large models (LLaMA, Llama 2, Falcon, BLOOM) need and whether this machine
runs them (the planner, checked against SmolLM2 measured here), 4-bit generation with llama.cpp against our fp32
model; then scaling laws measured on a family of our own LLaMA-like models trained from scratch and what quantising
each size costs (:mod:`~zero2hero.labs.ch07_scaling`), a LoRA fine-tune of SmolLM2 in Jane Austen's style with the
resources it took, deployed as GGUF files that llama.cpp runs (:mod:`~zero2hero.labs.ch07_austen`); and in full mode
``z2h bench llama``: every path on one GGUF file, speed, memory and perplexity."""

from __future__ import annotations

import math
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from zero2hero.errors import InputError
from zero2hero.labs.ch07_austen import AustenSteps, style_config
from zero2hero.labs.ch07_scaling import quantization_by_size, scaling_laws, scaling_plan
from zero2hero.measure import Stopwatch
from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from zero2hero.bench import BenchResult
    from zero2hero.llama.gguf_reader import GGUFFile, TensorInfo
    from zero2hero.llama.planner import Plan

CHAPTER = 7
TITLE = ("Lab 7 — LLaMA-like models: architecture, from scratch vs transformers, large models, llama.cpp, scaling "
         "laws, a LoRA fine-tune deployed")

PROMPTS = ["What is the capital of France?", "Write a haiku about the sea.",
           "Explain what a GPU is in one sentence.", "Give three tips for learning a new language."]
LARGE_MODELS = ["llama-7b", "llama-13b", "llama-65b", "llama-2-7b", "llama-2-13b", "llama-2-70b", "falcon-7b",
                "falcon-40b", "bloom-176b"]
PLAN_FORMATS = ("fp16", "q8_0", "q4_0")  # drawn in the figure; the table shows fp16 and q4_0

# The metadata keys that define SmolLM2's architecture and tokenizer, each with what it means.
ARCHITECTURE_KEYS = {
    "general.architecture": "block design llama.cpp runs (llama: RMSNorm, RoPE, GQA, SwiGLU)",
    "general.size_label": "size it was published as",
    "general.file_type": "main weight format of the file (llama.cpp's numbering)",
    "llama.block_count": "transformer blocks (layers)",
    "llama.context_length": "longest sequence it was trained on, in tokens",
    "llama.embedding_length": "hidden size: numbers per token between blocks",
    "llama.feed_forward_length": "inner width of the SwiGLU MLP",
    "llama.attention.head_count": "query heads",
    "llama.attention.head_count_kv": "key/value heads (grouped-query attention)",
    "llama.rope.dimension_count": "dimensions RoPE rotates in each head",
    "llama.rope.freq_base": "RoPE's θ: base of the rotation frequencies",
    "llama.attention.layer_norm_rms_epsilon": "ε inside RMSNorm's square root",
    "llama.vocab_size": "tokens in the vocabulary (rows of the embedding)",
    "tokenizer.ggml.model": "tokenizer family (gpt2: byte-level BPE)",
    "tokenizer.ggml.pre": "pre-tokenizer: how text is split before BPE",
    "tokenizer.ggml.tokens": "the vocabulary, one string per id",
    "tokenizer.ggml.merges": "BPE merge rules, in order",
    "tokenizer.ggml.bos_token_id": "beginning-of-sequence token",
    "tokenizer.ggml.eos_token_id": "end-of-sequence token (ends a chat turn)",
    "tokenizer.ggml.add_bos_token": "whether BOS is put before every prompt",
    "tokenizer.chat_template": "Jinja template that turns chat messages into the prompt",
}


@dataclass
class Config:
    quick: bool = True
    prompts: list[str] = field(default_factory=lambda: list(PROMPTS))
    compare_tokens: int = 32  # greedy tokens per prompt, ours against transformers
    generate_tokens: int = 64  # greedy tokens per prompt, llama.cpp against our fp32 model
    plan_context: int = 4096  # tokens in the KV cache the planner sizes
    check_formats: list[str] = field(default_factory=lambda: ["fp32", "bf16", "q8_0", "q4_0"])  # [] skips the check
    check_tokens: int = 32
    scaling_plan: str = "full"  # zero2hero.llama.scaling.plan's FULL (7 sizes, long unless cached) or QUICK (3 sizes)
    style_size: str = "full"  # zero2hero.llama.style_finetune's FULL or QUICK
    deploy_base: bool = True  # also write and score the base model at each GGUF format
    bench: bool = True  # z2h bench llama at full size: seven paths, each also loaded in a fresh process (minutes)

    def __post_init__(self) -> None:
        if not self.prompts or any(not p.strip() for p in self.prompts):
            raise InputError("the prompts are empty", "give at least one prompt with some text")
        from zero2hero.llama.plan_check import CHECK_FORMATS

        unknown = sorted(set(self.check_formats) - set(CHECK_FORMATS))
        if unknown:
            raise InputError(f"the planner check does not measure {', '.join(unknown)}",
                             f"choose among {', '.join(CHECK_FORMATS)}")
        if min(self.compare_tokens, self.generate_tokens, self.check_tokens) < 1:
            raise InputError("the token counts must be at least 1", "e.g. compare_tokens 16, generate_tokens 32")
        scaling_plan(self.scaling_plan)
        style_config(self.style_size)


# The bench is left out of quick mode: even at its quick size it loads seven paths in fresh processes (over a minute).
# Quick scaling: 3 sizes × 2 budgets (wide error bars; cached after the first run). Quick deployment writes the
# fine-tuned model only: writing and scoring the base too doubles the step.
QUICK = {"prompts": PROMPTS[:3], "compare_tokens": 12, "generate_tokens": 16, "check_formats": ["fp32"],
         "check_tokens": 8, "scaling_plan": "quick", "style_size": "quick", "deploy_base": False, "bench": False}


def run(config: Config, ctx: RunContext) -> LabResult:
    result = LabResult(title=TITLE)
    lab = _Lab(config, ctx)
    ctx.step("SmolLM2's architecture from its GGUF file: metadata, tensors, parameters")
    result.add(lab.architecture())
    ctx.step(f"our LLaMA against transformers on the same weights: logits and greedy tokens on "
             f"{len(config.prompts)} prompts")
    result.add(lab.ours_vs_transformers())
    ctx.step("the planner: LLaMA, Llama 2, Falcon and BLOOM at fp16 and Q4_0 on this machine")
    result.add(lab.large_models())
    if config.check_formats:
        ctx.step(f"the planner against SmolLM2 measured in {', '.join(config.check_formats)}")
        result.add(lab.plan_check())
    ctx.step("llama.cpp's 4-bit generation against our fp32 model")
    result.add(lab.llamacpp_generation())
    ctx.step(f"scaling laws on our own LLaMA-like models ({config.scaling_plan} plan: trained, or read from the cache)")
    result.add(scaling_laws(config.scaling_plan, ctx))
    ctx.step("quantisation sensitivity across model sizes: Q8_0, Q4_0, Q4_1, NF4 and Q4_K on each size")
    result.add(quantization_by_size(config.scaling_plan, ctx))
    with tempfile.TemporaryDirectory(prefix="z2h-lab7-") as scratch:
        austen = AustenSteps(config.style_size, config.deploy_base, ctx, Path(scratch))
        ctx.step("a LoRA fine-tune of SmolLM2 in Jane Austen's style, ours and PEFT: time and resources")
        result.add(austen.finetune())
        ctx.step("the fine-tuned model deployed: merged, written as GGUF (F32, Q8_0, Q4_0, Q4_K), run by llama.cpp")
        result.add(austen.deploy())
    if config.bench:
        ctx.step("z2h bench llama: llama.cpp, transformers and ours on one GGUF file (load, memory, speed, perplexity)")
        result.add(bench_section(lab.bench(), ctx))
    return result


def bench_section(bench: BenchResult, ctx: RunContext) -> Section:
    """The llama bench's tables and notes, a metric per path, and a figure of decode tokens/s with perplexity."""
    rows = bench.figures["paths"]
    section = Section(tables=list(bench.tables), notes=list(bench.notes))
    for row in rows:
        section.metric(f"bench_{row['path']}_decode_tokens_per_s", row["decode_tokens_per_s"], "z2h bench llama")
        section.metric(f"bench_{row['path']}_heldout_ppl", row["heldout_ppl"], "z2h bench llama")
    fig, ax = new_figure((8, 4.5))
    names = [row["path"] for row in rows]
    speeds = [row["decode_tokens_per_s"] for row in rows]
    bars = ax.bar(names, speeds, color=["#228833" if n.startswith("llamacpp") else "#4477aa" for n in names])
    for bar, row in zip(bars, rows, strict=True):
        ax.annotate(f"ppl {row['heldout_ppl']:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set(ylabel="decode tokens/s", title=f"SmolLM2-135M decoding, {bench.figures['threads_count']} thread(s)")
    section.figures.append(ctx.save_figure(
        fig, "bench_decode_speed.png", "Decode speed of each path, perplexity above each bar",
        f"z2h bench llama: best of {bench.figures['rounds_count']} alternating round(s); perplexity on "
        f"{bench.figures['ppl_tokens_count']} held-out tokens (lower is better). Green: llama.cpp."))
    return section


def tensor_kind(name: str) -> str:
    """A GGUF tensor name with its block number replaced: ``blk.7.attn_q.weight`` -> ``blk.N.attn_q.weight``."""
    return re.sub(r"^blk\.\d+\.", "blk.N.", name)


def shown_value(gguf: GGUFFile, key: str) -> str:
    """A metadata value as the table shows it: lists by length, token ids with their token, long text by length."""
    from gguf.constants import LlamaFileType

    value = gguf.metadata[key]
    tokens = gguf.metadata.get("tokenizer.ggml.tokens", [])
    if isinstance(value, list):
        return f"list of {len(value):,}"
    if key.endswith("_token_id") and isinstance(value, int) and value < len(tokens):
        return f"{value} ({tokens[value]})"
    if key == "general.file_type":
        return f"{value} ({LlamaFileType(value).name})"
    if isinstance(value, str) and len(value) > 40:
        return f"{len(value):,} characters"
    return f"{value:g}" if isinstance(value, float) else str(value)


def tensor_table(gguf: GGUFFile) -> tuple[Table, int, int]:
    """The file's tensors grouped by kind (name, count, shape, GGML type, bytes), and the bytes and values in all."""
    from zero2hero.llama.ggml_types import tensor_nbytes

    kinds: dict[str, list[TensorInfo]] = defaultdict(list)
    for info in gguf.tensors.values():
        kinds[tensor_kind(info.name)].append(info)
    rows, total_bytes, total_values = [], 0, 0
    for kind, infos in sorted(kinds.items()):
        first = infos[0]
        each, values = tensor_nbytes(first.type_id, first.shape, first.name), math.prod(first.shape)
        total_bytes += each * len(infos)
        total_values += values * len(infos)
        rows.append([kind, len(infos), " × ".join(map(str, first.shape)), first.type_name, f"{each:,}",
                     f"{each * len(infos):,}", f"{8 * each / values:.2f}"])
    rows.append(["total", len(gguf.tensors), "", "", "", f"{total_bytes:,}", f"{8 * total_bytes / total_values:.2f}"])
    table = Table(
        "SmolLM2's tensors by kind (blk.N: one per block)",
        ["name", "tensors", "shape (rows × columns)", "GGML type", "bytes each", "bytes in all", "bits/value"], rows,
        f"The file's data section is {gguf.path.stat().st_size - gguf.data_offset:,} bytes: the tensors, each "
        f"starting on a multiple of {gguf.alignment} bytes. Q4_1 stores 32 weights in 20 bytes (a scale, a minimum, "
        f"32 four-bit codes), Q8_0 32 weights in 34 bytes (a scale, 32 eight-bit codes).")
    return table, total_bytes, total_values


class _Lab:
    """What the steps share: the GGUF header, the models, the prompts in SmolLM2's chat format."""

    def __init__(self, config: Config, ctx: RunContext) -> None:
        from zero2hero.assets import asset_path, load_tokenizer
        from zero2hero.llama.gguf_reader import read_gguf
        from zero2hero.transformer.generate import encode_prompt

        self.config, self.ctx = config, ctx
        self.path = asset_path("smollm2")
        self.gguf = read_gguf(self.path)
        self.tokenizer = load_tokenizer("smollm2")
        self.prompt_ids = [encode_prompt(self.tokenizer, prompt, chat=True) for prompt in config.prompts]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip().replace("\n", " ")

    # ---- 1. architecture ----------------------------------------------------------------------------------------

    def architecture(self) -> Section:
        from zero2hero.assets import load_causal_lm
        from zero2hero.llama.gguf_model import llama_from_gguf
        from zero2hero.llama.plan_sources import from_gguf

        gguf, section = self.gguf, Section()
        meta = gguf.metadata
        rows = [[key, shown_value(gguf, key), meaning] for key, meaning in ARCHITECTURE_KEYS.items() if key in meta]
        heads, kv_heads = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
        section.tables.append(Table(
            f"{self.path.name}: the metadata that defines the model (GGUF version {gguf.version}, "
            f"{len(meta)} keys in all)", ["key", "value", "what it means"], rows,
            f"Read by zero2hero's GGUF reader. Head size = embedding_length / head_count = "
            f"{meta['llama.embedding_length']} / {heads} = {meta['llama.embedding_length'] // heads}; "
            f"{heads} query heads share {kv_heads} key/value heads, {heads // kv_heads} per group."))

        table, total_bytes, total_values = tensor_table(gguf)
        section.tables.append(table)
        section.metric("smollm2_tensor_data_mb", total_bytes / 1e6, "bytes of SmolLM2's tensors in the GGUF file")
        section.metric("smollm2_bits_per_weight", 8 * total_bytes / total_values, "mean over every tensor")

        watch = Stopwatch()
        self.ours = llama_from_gguf(self.path)
        ours_load_s = watch.seconds
        watch = Stopwatch()
        self.hf, _ = load_causal_lm("smollm2")
        hf_load_s = watch.seconds
        counts = {"GGUF tensors (values stored)": total_values,
                  "our Llama built from the GGUF": sum(p.numel() for p in self.ours.parameters()),
                  "transformers' LlamaForCausalLM": self.hf.num_parameters(),
                  "the planner's formula (chapter 7)": from_gguf(self.path)[0].parameters()}
        section.tables.append(Table(
            "Parameters of SmolLM2, counted four ways", ["counted from", "parameters"],
            [[name, f"{count:,}"] for name, count in counts.items()],
            f"The output head is tied to the embedding, so it is stored and counted once. Loading into float32: "
            f"ours {ours_load_s:.1f} s, transformers {hf_load_s:.1f} s."))
        section.metric("ours_parameters_count", counts["our Llama built from the GGUF"])
        section.metric("transformers_parameters_count", counts["transformers' LlamaForCausalLM"])
        section.metric("ours_gguf_load_s", ours_load_s, "read, dequantise to float32, un-permute RoPE rows")
        return section

    # ---- 2. ours against transformers ---------------------------------------------------------------------------

    def ours_vs_transformers(self) -> Section:
        from zero2hero.transformer.generate import SamplingConfig, generate

        c, eos = self.config, self.tokenizer.eos_token_id
        ids = torch.tensor([self.prompt_ids[0]])
        with torch.inference_mode():
            theirs, ours = self.hf(ids).logits, self.ours(ids)[0]
        difference = (ours - theirs).abs().max().item()
        rows, equal = [], []
        for prompt, prompt_ids in zip(c.prompts, self.prompt_ids, strict=True):
            mine = generate(self.ours, prompt_ids, SamplingConfig(max_new_tokens=c.compare_tokens, stop_ids=[eos]))
            with torch.inference_mode():
                out = self.hf.generate(torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids),
                                       dtype=torch.long), max_new_tokens=c.compare_tokens, do_sample=False,
                                       eos_token_id=eos, pad_token_id=eos)
            reference = out[0, len(prompt_ids):].tolist()
            equal.append(mine == reference)
            rows.append([prompt, len(mine), "yes" if mine == reference else "no", self.decode(mine),
                         self.decode(reference)])
        section = Section()
        section.metric("greedy_ours_transformers_identical", all(equal),
                       f"greedy tokens on {len(c.prompts)} prompts, up to {c.compare_tokens} each")
        section.tables += [
            Table("Our LLaMA against transformers' on the same weights: logits",
                  ["prompt", "tokens", "logits", "largest |logit|", "largest difference"],
                  [[c.prompts[0], ids.shape[1], " × ".join(map(str, theirs.shape)), f"{theirs.abs().max():.2f}",
                    f"{difference:.2e}"]],
                  "Both models hold the same float32 weights, dequantised from the same Q4_1 file (ours by "
                  "zero2hero's reader, transformers' by its GGUF loader); the prompt is in SmolLM2's chat format."),
            Table(f"Greedy continuations, ours and transformers' generate() (up to {c.compare_tokens} tokens, "
                  "stopping at <|im_end|>)", ["prompt", "tokens", "identical", "ours", "transformers"], rows)]
        self.ours = self.hf = None  # freed: the later steps load what they measure
        return section

    # ---- 3. large models -----------------------------------------------------------------------------------------

    def large_models(self) -> Section:
        from zero2hero.llama.plan_sources import resolve
        from zero2hero.llama.planner import machine_ram, make_plan
        from zero2hero.measure import copy_bandwidth_gb_per_s

        c = self.config
        bandwidth, ram = copy_bandwidth_gb_per_s(), machine_ram()
        plans = {name: {fmt: make_plan(resolve(name)[0], fmt, c.plan_context, 1, bandwidth, ram)
                        for fmt in PLAN_FORMATS} for name in ["smollm2", *LARGE_MODELS]}
        rows = []
        for by_format in plans.values():
            for fmt in ("fp16", "q4_0"):
                p = by_format[fmt]
                rows.append([p.arch.name, f"{p.arch.parameters() / 1e9:.2f}", fmt, f"{p.weights_bytes / 1e9:.2f}",
                             f"{p.kv_bytes / 1e9:.2f}", f"{p.needed_bytes / 1e9:.2f}", p.fits,
                             f"{p.tokens_per_s:.3g}"])
        section = Section()
        section.metric("machine_ram_mb", ram.total_bytes / 1e6, "this machine's RAM")
        section.metric("machine_available_ram_mb", ram.available_bytes / 1e6, "free when the lab ran")
        section.metric("machine_copy_bandwidth_gb_per_s", bandwidth, "bytes read + written per second, array copy")
        for name in LARGE_MODELS:
            slug = name.replace("-", "_")
            section.metric(f"{slug}_parameters_count", plans[name]["q4_0"].arch.parameters(), "planner's formula")
        section.tables.append(Table(
            f"What each model needs to decode {c.plan_context:,} tokens, and whether this machine runs it",
            ["model", "parameters (B)", "format", "weights GB", "KV cache GB", "needs GB", "fits", "tokens/s ≤"],
            rows,
            f"From each model's published architecture (z2h plan); nothing is downloaded. RAM "
            f"{ram.total_bytes / 1e9:.1f} GB, {ram.available_bytes / 1e9:.1f} GB free; fits: yes in the free "
            f"memory, tight in the whole RAM only, no beyond it. tokens/s ≤: one token reads every weight and the "
            f"cache at the {bandwidth:.1f} GB/s this machine copies memory, a ceiling."))
        self.plans = plans
        section.figures.append(self._memory_figure(plans, ram.total_bytes))
        return section

    def _memory_figure(self, plans: dict[str, dict[str, Plan]], ram_bytes: int) -> Figure:
        fig, ax = new_figure((10, 4.5))
        names = list(plans)
        width = 0.8 / len(PLAN_FORMATS)
        for i, fmt in enumerate(PLAN_FORMATS):
            heights = [plans[name][fmt].needed_bytes / 1e9 for name in names]
            ax.bar([x + (i - 1) * width for x in range(len(names))], heights, width, label=fmt)
        ax.axhline(ram_bytes / 1e9, color="black", linestyle="--",
                   label=f"this machine's RAM ({ram_bytes / 1e9:.0f} GB)")
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), [plans[n]["fp16"].arch.name for n in names], rotation=30, ha="right")
        ax.set(ylabel=f"GB: weights + KV cache of {self.config.plan_context:,} tokens (log scale)",
               title="Memory to run each model, by weight format")
        ax.legend(fontsize=8)
        return self.ctx.save_figure(fig, "model_memory_vs_ram.png", "Memory of each model by format against RAM",
                                    "The planner's arithmetic on each model's published architecture.")

    def plan_check(self) -> Section:
        from zero2hero.llama.plan_check import check_smollm2, check_table

        c = self.config
        checked = check_smollm2(tuple(c.check_formats), c.check_tokens, self.ctx.step)
        section = Section()
        for row in checked:
            section.metric(f"plan_check_{row.fmt}_memory_error_pct", 100 * row.memory_error,
                           "measured ÷ predicted − 1")
            section.metric(f"plan_check_{row.fmt}_decode_apart_ratio", row.speed_ratio,
                           "larger ÷ smaller of predicted and measured decode tokens/s")
        columns, rows = check_table(checked)
        section.tables.append(Table(
            f"The planner against SmolLM2 measured here ({c.check_tokens} greedy tokens per format)", columns,
            [[f"{v:.3g}" if isinstance(v, float) else v for v in row] for row in rows],
            "Memory: weights plus the KV cache; speed: bytes moved ÷ bandwidth plus a fixed cost per token "
            "(zero2hero.llama.plan_check)."))
        return section

    # ---- 4. llama.cpp against ours -------------------------------------------------------------------------------

    def llamacpp_generation(self) -> Section:
        from zero2hero.bench.llama import load_in_fresh_process
        from zero2hero.llama.llamacpp import INSTALL_HINT, llamacpp_available

        c, section = self.config, Section()
        paths = {"ours_fp32": ("ours fp32", self._ours_generation)}
        if llamacpp_available():
            paths["llamacpp_q4_1"] = ("llama.cpp Q4_1", self._llamacpp_generation)
        else:
            section.notes.append(f"llama.cpp is not installed here, so only our fp32 model ran. To install it: "
                                 f"{INSTALL_HINT}")
        speed_rows, runs = [], {}
        for key, (shown, generation) in paths.items():
            # Load time and memory in a fresh process (the file's folder: these two paths read no other file).
            load = load_in_fresh_process(key, self.path.parent, self.prompt_ids[0], c.generate_tokens)
            run = runs[shown] = generation()
            section.metric(f"{key}_load_s", load["load_s"], "from the GGUF file to a model ready to run")
            section.metric(f"{key}_peak_added_mb", load["peak_added_mb"],
                           "highest resident memory added by loading and generating, in a fresh process")
            section.metric(f"{key}_prefill_tokens_per_s", run.prefill_tokens_per_s,
                           f"{run.prefill_tokens:.0f} prompt tokens")
            section.metric(f"{key}_decode_tokens_per_s", run.decode_tokens_per_s,
                           f"{run.decode_tokens:.0f} tokens after each first one")
            speed_rows.append([shown, round(load["load_s"], 2), round(load["peak_added_mb"]),
                               round(load["resident_added_mb"]), f"{run.prefill_tokens_per_s:.1f}",
                               f"{run.decode_tokens_per_s:.1f}"])
        if len(paths) == 2:
            section.metric("decode_speedup_llamacpp_over_ours_ratio",
                           section.value("llamacpp_q4_1_decode_tokens_per_s")
                           / section.value("ours_fp32_decode_tokens_per_s"), "decode tokens/s, Q4_1 over fp32")
        section.tables.append(Table(
            f"Greedy generation, {len(c.prompts)} prompts in SmolLM2's chat format, up to {c.generate_tokens} new "
            f"tokens each, {torch.get_num_threads()} thread(s)",
            ["path", "load s", "peak memory added MB", "resident after MB", "prefill tokens/s", "decode tokens/s"],
            speed_rows,
            "Load time and memory: in a fresh Python process (after importing torch, transformers and llama_cpp), "
            "the path loads and answers the first prompt; memory is the resident set size it added at its peak and "
            "still holds after. Speed: in this process, over every prompt."))
        answers = [[prompt, *(run.answers[i] for run in runs.values())] for i, prompt in enumerate(c.prompts)]
        section.tables.append(Table("The answers, side by side", ["prompt", *runs], answers,
                                    "Both compute with the file's Q4_1 weights (ours dequantised to float32); "
                                    "llama.cpp also rounds the activations to 8 bits for its dot products, so "
                                    "the two may part ways where two tokens are nearly tied."))
        return section

    def bench(self) -> BenchResult:
        from zero2hero.bench.llama import run as run_bench

        return run_bench(quick=self.config.quick)

    def _ours_generation(self) -> _Generations:
        """Our model read from the GGUF file, generating greedily with chapter 3's loop."""
        from zero2hero.llama.gguf_model import llama_from_gguf
        from zero2hero.transformer.generate import GenerationStats, SamplingConfig, generate

        model, run = llama_from_gguf(self.path), _Generations()
        cfg = SamplingConfig(max_new_tokens=self.config.generate_tokens, stop_ids=[self.tokenizer.eos_token_id])
        for ids in self.prompt_ids:
            stats = GenerationStats()
            new = generate(model, ids, cfg, stats)
            run.add(self.decode(new), stats.prompt_tokens, stats.prefill_seconds,
                    stats.decode_tokens_per_s * stats.decode_seconds, stats.decode_seconds)
        return run

    def _llamacpp_generation(self) -> _Generations:
        from zero2hero.llama.llamacpp import generate_greedy, load

        llm, run = load(self.path), _Generations()
        for ids in self.prompt_ids:
            out = generate_greedy(llm, ids, self.config.generate_tokens)
            run.add(out.text.strip().replace("\n", " "), out.prompt_tokens, out.prefill_s,
                    out.decode_tokens_per_s * out.decode_s, out.decode_s)
        return run


@dataclass
class _Generations:
    """One path's greedy runs over the prompts: the answers, and the tokens of each phase with their seconds."""

    answers: list[str] = field(default_factory=list)
    prefill_tokens: float = 0.0
    prefill_s: float = 0.0
    decode_tokens: float = 0.0  # the tokens after each run's first: the first comes out of the prefill
    decode_s: float = 0.0

    def add(self, answer: str, prefill_tokens: float, prefill_s: float, decode_tokens: float, decode_s: float) -> None:
        self.answers.append(answer)
        self.prefill_tokens += prefill_tokens
        self.prefill_s += prefill_s
        self.decode_tokens += decode_tokens
        self.decode_s += decode_s

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prefill_tokens / self.prefill_s

    @property
    def decode_tokens_per_s(self) -> float:
        return self.decode_tokens / self.decode_s if self.decode_s else 0.0
