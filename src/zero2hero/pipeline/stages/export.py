"""Stage export: the adapters merged into plain models, and the reply generator as a GGUF file for llama.cpp.

* ``export/classifier/<label>/``: each LoRA classifier merged by chapter 6's ``merge_adapter_folder`` (a plain
  ``save_pretrained`` folder that ``zero2hero.finetuning.classify.load_classifier`` loads; its tokenizer keeps the
  training length);
* ``export/generator/``: the reply generator's adapter merged by PEFT's ``merge_and_unload``, with its tokenizer;
* ``export/generator-<format>.gguf``: that model written by chapter 7's GGUF writer in ``export.gguf_format``, with
  the tokenizer keys of the shipped SmolLM2 GGUF file.

The details say what was checked: the greedy first tokens of one reply from the merged transformers model, from our
reader of the GGUF file (chapter 7) and from llama.cpp when llama-cpp-python is installed, and how many agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zero2hero.pipeline.replies import render_reply_prompt
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import replaced_dir
from zero2hero.pipeline.stages.train_classifier import LABELS

CHECK_REVIEW = "The coffee arrived two days late, but it tastes wonderful."  # one review to reply to, fixed
CHECK_TOKENS = 16  # greedy tokens compared between the formats


def merge_generator(adapter_dir: Path, out: Path) -> Any:
    """Base model + the PEFT adapter in ``adapter_dir``, merged; saved with the tokenizer into ``out``."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from zero2hero.assets import load_causal_lm
    from zero2hero.lora.adapter_files import read_adapter_config

    base, _ = load_causal_lm(read_adapter_config(adapter_dir).base_model)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload().eval()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out)
    return merged


def agreeing_prefix(a: list[int], b: list[int]) -> int:
    """How many leading ids ``a`` and ``b`` share."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def first_tokens(merged: Any, gguf: Path, prompt_ids: list[int], eos_id: int | None) -> dict[str, Any]:
    """Greedy ids after ``prompt_ids`` from the merged model, our GGUF reader and llama.cpp (None when missing)."""
    import torch

    from zero2hero.llama.gguf_model import llama_from_gguf
    from zero2hero.llama.llamacpp import llamacpp_available
    from zero2hero.transformer.generate import SamplingConfig, generate

    config = SamplingConfig(max_new_tokens=CHECK_TOKENS, stop_ids=[eos_id] if eos_id is not None else [])
    with torch.inference_mode():
        transformers_ids = generate(merged, prompt_ids, config)
        ours_ids = generate(llama_from_gguf(gguf), prompt_ids, config)
    llamacpp_ids = None
    if llamacpp_available():
        from zero2hero.llama import llamacpp

        llm = llamacpp.load(gguf, n_ctx=len(prompt_ids) + CHECK_TOKENS)
        try:
            llamacpp_ids = llamacpp.generate_greedy(llm, prompt_ids, CHECK_TOKENS).ids
        finally:
            llm.close()
    return {"transformers": transformers_ids, "gguf_ours": ours_ids, "llamacpp": llamacpp_ids,
            "gguf_ours_agreeing_tokens": agreeing_prefix(transformers_ids, ours_ids),
            "llamacpp_agreeing_tokens": None if llamacpp_ids is None else agreeing_prefix(transformers_ids,
                                                                                          llamacpp_ids)}


def folder_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file()) / 1e6


def run(ctx: StageContext) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from zero2hero.llama.gguf_deploy import shipped_tokenizer_metadata
    from zero2hero.llama.gguf_writer import write_gguf
    from zero2hero.llama.model import from_transformers
    from zero2hero.lora.merge_folder import merge_adapter_folder

    fmt = str(ctx.params["export"]["gguf_format"])
    details: dict[str, Any] = {"gguf_format": fmt, "classifier_mb": {}}
    with replaced_dir(ctx.path("export")) as out:
        for label in LABELS:
            ctx.progress(f"merging the {label} classifier's adapter")
            merge_adapter_folder(ctx.path(f"models/classifier/{label}"), out / "classifier" / label)
            details["classifier_mb"][label] = folder_mb(out / "classifier" / label)
        ctx.progress("merging the reply generator's adapter")
        merged = merge_generator(ctx.path("models/generator"), out / "generator")
        details["generator_mb"] = folder_mb(out / "generator")
        ctx.progress(f"writing the GGUF file ({fmt})")
        gguf = write_gguf(from_transformers(merged), out / f"generator-{fmt}.gguf", fmt,
                          tokenizer_metadata=shipped_tokenizer_metadata())
        details["gguf_mb"] = gguf.stat().st_size / 1e6
        tokenizer = AutoTokenizer.from_pretrained(out / "generator")
        prompt_ids = tokenizer(render_reply_prompt(tokenizer, CHECK_REVIEW), add_special_tokens=False)["input_ids"]
        details["check"] = {"review": CHECK_REVIEW, "new_tokens": CHECK_TOKENS,
                            **first_tokens(merged, gguf, prompt_ids, tokenizer.eos_token_id)}
    return details
