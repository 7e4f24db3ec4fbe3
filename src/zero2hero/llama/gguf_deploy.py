"""From a LoRA adapter to llama.cpp: merge, convert, quantise, and check that the fine-tune survived each format.

The path, each step an earlier chapter's code:

1. chapter 6's merge (:func:`zero2hero.lora.merge_folder.merge_adapter_folder`): the adapter folded into its base
   model, saved as an ordinary transformers folder (``merged/``);
2. :func:`zero2hero.llama.model.from_transformers`: that model as our Llama;
3. :func:`zero2hero.llama.gguf_writer.write_gguf` at each format (F32, Q8_0, Q4_0, Q4_K), with the tokenizer's
   ``tokenizer.*`` keys copied from the base model's shipped GGUF so llama.cpp can tokenize;
4. each file scored on the held-out domain text twice: by our reader and model (the file's weights dequantised)
   and by llama.cpp (its own kernels), and one greedy continuation each.

The base model goes through steps 2–4 as well (its files in a temporary folder), so each format's fine-tuned
perplexity is set beside the base model's at the same format: the fine-tune survives a format when its perplexity
on the domain stays below the base's. Without llama-cpp-python the llama.cpp figures are left out (None) and
:attr:`DeployResult.llamacpp_missing` holds :data:`~zero2hero.llama.llamacpp.INSTALL_HINT`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zero2hero.errors import InputError
from zero2hero.llama.gguf_writer import FORMATS, write_gguf
from zero2hero.llama.model import from_transformers
from zero2hero.measure import Stopwatch

DEPLOY_FORMATS = ("f32", "q8_0", "q4_0", "q4_k")


@dataclass(frozen=True)
class DeployConfig:
    formats: tuple[str, ...] = DEPLOY_FORMATS
    eval_tokens: int = 2048  # held-out tokens scored for perplexity
    window: int = 128  # tokens per perplexity window (each scored from an empty context)
    new_tokens: int = 40  # greedy tokens generated after the prompt
    compare_base: bool = True  # also write and score the base model at each format

    def __post_init__(self) -> None:
        unknown = [fmt for fmt in self.formats if fmt not in FORMATS]
        if unknown or not self.formats:
            raise InputError(f"unknown GGUF format(s) {', '.join(unknown) or '(none given)'}",
                             f"choose from {', '.join(FORMATS)}")
        if min(self.eval_tokens, self.window, self.new_tokens) < 2:
            raise InputError("eval_tokens, window and new_tokens must be at least 2",
                             f"got {self.eval_tokens}, {self.window} and {self.new_tokens}")


@dataclass(frozen=True)
class Scores:
    """One model in one GGUF file: held-out perplexity and a greedy continuation, ours and llama.cpp's."""

    ours_ppl: float
    ours_generation: str
    llamacpp_ppl: float | None  # None: llama-cpp-python is not installed
    llamacpp_generation: str | None


@dataclass(frozen=True)
class FormatRecord:
    fmt: str
    path: Path  # the fine-tuned model's file
    file_mb: float
    write_s: float
    tuned: Scores
    base: Scores | None  # None unless DeployConfig.compare_base


@dataclass(frozen=True)
class DeployResult:
    merged_dir: Path
    merged_ppl: float  # the merged transformers model's perplexity (the float32 reference)
    eval_tokens: int
    prompt: str
    formats: list[FormatRecord]
    llamacpp_missing: str | None  # the install hint when llama.cpp's figures are left out


def deploy_adapter(adapter_dir: Path, out_dir: Path, heldout: str, prompt: str, config: DeployConfig,
                   tokenizer_metadata: dict[str, Any] | None = None) -> DeployResult:
    """Merge the adapter in ``adapter_dir`` into ``out_dir/merged`` and write ``out_dir/<format>.gguf`` for each
    of ``config.formats``; score each on the first ``config.eval_tokens`` tokens of ``heldout`` and continue
    ``prompt``. ``tokenizer_metadata``: the ``tokenizer.*`` GGUF keys (default: those of the shipped SmolLM2 file).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zero2hero.assets import resolve_model_path
    from zero2hero.llama.llamacpp import INSTALL_HINT, llamacpp_available
    from zero2hero.lora.adapter_files import read_adapter_config
    from zero2hero.lora.finetune_adaptation import adapter_folder
    from zero2hero.lora.merge_folder import merge_adapter_folder
    from zero2hero.quantization.evaluate import perplexity

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    merged_dir = merge_adapter_folder(adapter_dir, out_dir / "merged")
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype="float32").eval()
    merged_ppl = perplexity(merged, tokenizer, heldout, config.eval_tokens, config.window)
    tuned = from_transformers(merged)
    del merged
    base = None
    if config.compare_base:
        source = resolve_model_path(read_adapter_config(adapter_folder(adapter_dir) or adapter_dir).base_model)
        base = from_transformers(AutoModelForCausalLM.from_pretrained(source, dtype="float32"))
    metadata = tokenizer_metadata if tokenizer_metadata is not None else shipped_tokenizer_metadata()
    if len(metadata.get("tokenizer.ggml.tokens", [])) != tuned.config.vocab_size:
        raise InputError(f"the tokenizer metadata holds {len(metadata.get('tokenizer.ggml.tokens', [])):,} tokens, "
                         f"the model {tuned.config.vocab_size:,}",
                         "pass the tokenizer.* keys of the base model's own GGUF file (tokenizer_entries)")
    eval_ids = tokenizer(heldout).input_ids[:config.eval_tokens]
    prompt_ids = tokenizer(prompt).input_ids
    records = []
    with tempfile.TemporaryDirectory(prefix="z2h-base-gguf-") as scratch:
        for fmt in config.formats:
            watch = Stopwatch()
            path = write_gguf(tuned, out_dir / f"{fmt}.gguf", fmt, tokenizer_metadata=metadata)
            write_s = watch.seconds
            base_scores = None
            if base is not None:
                base_path = write_gguf(base, Path(scratch) / f"base-{fmt}.gguf", fmt, tokenizer_metadata=metadata)
                base_scores = score_file(base_path, eval_ids, prompt_ids, config, tokenizer)
                base_path.unlink()
            records.append(FormatRecord(fmt, path, path.stat().st_size / 1e6, write_s,
                                        score_file(path, eval_ids, prompt_ids, config, tokenizer),
                                        base_scores))
    return DeployResult(merged_dir, merged_ppl, len(eval_ids), prompt, records,
                        None if llamacpp_available() else INSTALL_HINT)


def shipped_tokenizer_metadata() -> dict[str, Any]:
    """The ``tokenizer.*`` keys of the shipped SmolLM2-135M-Instruct GGUF file."""
    from zero2hero.assets import asset_path
    from zero2hero.llama.gguf_reader import read_gguf
    from zero2hero.llama.gguf_writer import tokenizer_entries

    return tokenizer_entries(read_gguf(asset_path("smollm2")))


def score_file(path: Path, eval_ids: list[int], prompt_ids: list[int], config: DeployConfig,
               tokenizer: Any) -> Scores:
    """Perplexity on ``eval_ids`` and a greedy continuation of ``prompt_ids`` (stopping after the end-of-sequence
    token, as llama.cpp's does) for the GGUF file ``path``: by our reader and model, and by llama.cpp when it is
    installed. ``tokenizer``: the model's transformers tokenizer, to decode the continuations."""
    from zero2hero.llama.gguf_model import llama_from_gguf
    from zero2hero.llama.llamacpp import llamacpp_available
    from zero2hero.quantization.evaluate import windowed_perplexity
    from zero2hero.transformer.generate import SamplingConfig, generate

    model = llama_from_gguf(path)
    with torch.inference_mode():
        ours_ppl = windowed_perplexity(lambda chunk: model(chunk[None])[0][0], torch.tensor(eval_ids), config.window)
    stop = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    ours_ids = generate(model, prompt_ids, SamplingConfig(max_new_tokens=config.new_tokens, stop_ids=stop))
    llamacpp_ppl = llamacpp_generation = None
    if llamacpp_available():
        from zero2hero.llama import llamacpp

        llm = llamacpp.load(path, n_ctx=max(config.window, len(prompt_ids) + config.new_tokens), logits_all=True)
        try:
            llamacpp_ppl = llamacpp.perplexity(llm, eval_ids, config.window)
            generated = llamacpp.generate_greedy(llm, prompt_ids, config.new_tokens).ids
            llamacpp_generation = tokenizer.decode(generated, skip_special_tokens=True)
        finally:
            llm.close()
    return Scores(ours_ppl, tokenizer.decode(ours_ids, skip_special_tokens=True), llamacpp_ppl, llamacpp_generation)
