"""A lightweight LoRA fine-tune of a LLaMA-like model on one author's style, with the resources it took recorded.

SmolLM2-135M-Instruct (LLaMA's architecture) learns to continue in Jane Austen's manner from a small subset of her
novels: a few hundred windows of tokens, each starting at a random paragraph of the novels' training parts (the
course corpus holds each novel's last 5 % out, see :func:`zero2hero.corpus.austen`). It is trained twice with the
same settings, seed and batches: with our LoRA (:mod:`zero2hero.lora`) and with PEFT, the library peer. Each run
records what it cost (wall time, tokens/s, peak resident memory, trainable parameters, the adapter's size on disk)
and what it changed (perplexity on held-out Austen, greedy continuations of three held-out openings).

:data:`QUICK` takes well under a minute on two CPU cores; :data:`FULL` a few minutes. Example::

    from zero2hero.llama.style_finetune import QUICK, austen_text, style_finetune

    result = style_finetune(QUICK, austen_text(QUICK.eval_tokens), out_dir=Path("austen"))
    result.runs["zero2hero"].heldout_ppl, result.before_ppl
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from zero2hero.errors import AssetMissingError, InputError
from zero2hero.measure import PeakMemory, Stopwatch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

LIBRARIES = ("zero2hero", "peft")
CHARS_PER_TOKEN = 5  # Austen in SmolLM2's BPE: a little over 4 characters a token, so 5 leaves no novel short
PROMPT_WORDS = 12  # a held-out opening: its first words are the prompt, the next ones what Austen wrote
ORIGINAL_WORDS = 30


@dataclass(frozen=True)
class StyleConfig:
    """The fine-tune's settings: LoRA on ``targets``, ``steps`` AdamW steps over ``windows`` windows."""

    model: str = "smollm2"  # an offline default name, a save_pretrained folder or a hub name
    rank: int = 8
    alpha: float = 16.0
    targets: str = "q_proj,v_proj"
    windows: int = 120  # training windows of ``length`` tokens: the "small subset of data", each seen once
    length: int = 128
    batch_size: int = 4
    steps: int = 30
    learning_rate: float = 2e-3
    eval_tokens: int = 2048  # held-out tokens scored for perplexity
    new_tokens: int = 40  # greedy tokens generated after each prompt
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rank", "windows", "length", "batch_size", "steps", "eval_tokens", "new_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}", f"pass a positive {name}")
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate must be positive, got {self.learning_rate}", "e.g. 2e-3 for LoRA")

    @property
    def trained_tokens(self) -> int:
        return self.steps * self.batch_size * self.length


QUICK = StyleConfig(windows=8, length=64, batch_size=2, steps=4, eval_tokens=256, new_tokens=12)
FULL = StyleConfig()


@dataclass(frozen=True)
class StyleText:
    """An author's text split for a fine-tune: what trains, what is held out, and prompts from the held-out part."""

    author: str
    train: str
    heldout: str  # never trained on: perplexity is measured on it
    prompts: list[str]  # the first words of held-out paragraphs
    originals: list[str]  # what the author wrote after each prompt


@dataclass(frozen=True)
class TrainingRecord:
    """One library's fine-tune: what it cost and what it gave."""

    library: str  # "zero2hero" or "peft"
    trainable_parameters: int
    total_parameters: int
    train_s: float  # wall time of the training steps alone
    tokens_per_s: float  # trained tokens (steps × batch × length) per second of training
    peak_mb: float  # highest resident memory of the process while training (MB = 10⁶ bytes)
    added_mb: float  # that peak over the memory held before training started (model loaded)
    adapter_mb: float  # adapter_model.safetensors on disk
    losses: list[float]  # training loss of each step (nats/token)
    heldout_ppl: float
    generations: list[str]  # greedy continuation of each prompt
    adapter_dir: Path


@dataclass(frozen=True)
class StyleResult:
    config: StyleConfig
    text: StyleText
    before_ppl: float  # the base model's held-out perplexity
    before_generations: list[str]
    runs: dict[str, TrainingRecord] = field(default_factory=dict)  # library -> its record


def austen_text(eval_tokens: int = 2048, prompts: int = 3) -> StyleText:
    """Jane Austen's novels from the course corpus: the training parts joined; held out, about ``eval_tokens``
    tokens taken evenly from the start of each novel's held-out last 5 %; prompts from the held-out paragraphs of
    ``prompts`` novels (the last ones, which the perplexity text reaches least)."""
    from zero2hero.corpus import DOCUMENT_SEPARATOR, austen

    novels = austen()
    share = eval_tokens * CHARS_PER_TOKEN // len(novels) + 1
    heldout = "\n\n".join(cut_at_line(part, share) for _, part in novels)
    openings = [heldout_opening(part) for _, part in novels[-prompts:]]
    return StyleText(author="Jane Austen", train=DOCUMENT_SEPARATOR.join(train for train, _ in novels),
                     heldout=heldout, prompts=[p for p, _ in openings], originals=[o for _, o in openings])


def cut_at_line(text: str, n_chars: int) -> str:
    """The first ``n_chars`` characters of ``text``, ending at the last line end before them (if any)."""
    end = text.rfind("\n", 0, n_chars)
    return text[:end if end > 0 else n_chars]


def heldout_opening(text: str) -> tuple[str, str]:
    """(the first :data:`PROMPT_WORDS` words, the next :data:`ORIGINAL_WORDS`) of the first paragraph of ``text``
    long enough for both, its lines joined. Raises :class:`InputError` when no paragraph is."""
    for paragraph in re.split(r"\n[ \t]*\n", text):
        words = paragraph.split()
        if len(words) >= PROMPT_WORDS + ORIGINAL_WORDS:
            return " ".join(words[:PROMPT_WORDS]), " ".join(words[PROMPT_WORDS:PROMPT_WORDS + ORIGINAL_WORDS])
    raise InputError("the held-out text has no paragraph long enough for a prompt",
                     f"give a held-out text with a paragraph of {PROMPT_WORDS + ORIGINAL_WORDS} words or more")


def style_finetune(config: StyleConfig, text: StyleText, out_dir: Path,
                   libraries: tuple[str, ...] = LIBRARIES) -> StyleResult:
    """Measure the base model, then fine-tune a fresh copy with each library's LoRA; each adapter is saved in PEFT's
    format to ``out_dir/<library>-adapter`` (``out_dir`` is created; its adapter folders must not exist yet)."""
    from zero2hero.assets import load_causal_lm
    from zero2hero.lora.text_windows import sampled_windows

    unknown = sorted(set(libraries) - set(LIBRARIES))
    if unknown:
        raise InputError(f"unknown LoRA implementation {', '.join(unknown)}", f"choose from {', '.join(LIBRARIES)}")
    model, tokenizer = load_causal_lm(config.model)
    windows = sampled_windows(tokenizer, text.train, config.windows, config.length, config.seed)
    before_ppl = heldout_perplexity(model, tokenizer, text.heldout, config)
    before_generations = continuations(model, tokenizer, text.prompts, config.new_tokens)
    del model
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    runs = {library: train_one(library, config, text, windows, Path(out_dir) / f"{library}-adapter")
            for library in libraries}
    return StyleResult(config, text, before_ppl, before_generations, runs)


def train_one(library: str, config: StyleConfig, text: StyleText, windows: torch.Tensor,
              adapter_dir: Path) -> TrainingRecord:
    """Load a fresh base model, add LoRA with ``library``, train on ``windows`` (n, length) and measure it."""
    from zero2hero.assets import load_causal_lm
    from zero2hero.finetuning.parameters import trainable_parameters
    from zero2hero.lora.causal_lm import train_on_windows

    model, tokenizer = load_causal_lm(config.model)
    torch.manual_seed(config.seed)  # both libraries draw the same A matrices (Kaiming-uniform, in layer order)
    model = add_adapter(library, model, config)
    trainable, total = trainable_parameters(model)
    watch = Stopwatch()
    with PeakMemory() as memory:
        losses = train_on_windows(model, windows, config.steps, config.batch_size, config.learning_rate, config.seed)
    seconds = watch.seconds
    save_adapter_folder(library, model, adapter_dir, config.model)
    tokenizer.save_pretrained(adapter_dir)
    return TrainingRecord(
        library=library, trainable_parameters=trainable, total_parameters=total, train_s=seconds,
        tokens_per_s=config.trained_tokens / seconds, peak_mb=memory.peak_mb, added_mb=memory.added_mb,
        adapter_mb=(adapter_dir / "adapter_model.safetensors").stat().st_size / 1e6, losses=losses,
        heldout_ppl=heldout_perplexity(model, tokenizer, text.heldout, config),
        generations=continuations(model, tokenizer, text.prompts, config.new_tokens), adapter_dir=adapter_dir)


def add_adapter(library: str, model: PreTrainedModel, config: StyleConfig) -> PreTrainedModel:
    """``model`` with LoRA of rank ``config.rank`` on ``config.targets``: ours in place, or PEFT's wrapper."""
    if library == "zero2hero":
        from zero2hero.lora.inject import add_lora
        from zero2hero.lora.layer import LoRASettings

        add_lora(model, config.targets, LoRASettings(config.rank, config.alpha))
        return model
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as err:
        raise AssetMissingError("PEFT is not installed", "pip install 'zero2hero[train]', or measure our LoRA alone: "
                                "libraries=('zero2hero',)") from err
    return get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0,
                                            target_modules=config.targets.split(","), task_type="CAUSAL_LM"))


def save_adapter_folder(library: str, model: PreTrainedModel, folder: Path, base_model: str) -> None:
    """The adapter in PEFT's format, written by the library that trained it (both write the same files)."""
    from zero2hero.files import atomic_dir

    if library == "zero2hero":
        from zero2hero.lora.adapter_files import save_adapter

        save_adapter(model, folder, base_model, task_type="CAUSAL_LM")
        return
    model.peft_config["default"].base_model_name_or_path = base_model
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)


def heldout_perplexity(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, heldout: str,
                       config: StyleConfig) -> float:
    """Chapter 4's perplexity on the first ``config.eval_tokens`` held-out tokens, in windows of ``config.length``."""
    from zero2hero.quantization.evaluate import perplexity

    model.eval()
    return perplexity(model, tokenizer, heldout, config.eval_tokens, config.length)


def continuations(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
                  new_tokens: int) -> list[str]:
    """Greedy continuations (chapter 3's :func:`~zero2hero.transformer.generate.generate`), decoded."""
    from zero2hero.transformer.generate import SamplingConfig, generate

    stop = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    sampling = SamplingConfig(max_new_tokens=new_tokens, stop_ids=stop)
    model.eval()
    return [tokenizer.decode(generate(model, tokenizer(prompt).input_ids, sampling), skip_special_tokens=True)
            for prompt in prompts]
