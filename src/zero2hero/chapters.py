"""The ten chapters of the course: number, folder slug, title and the library package that teaches it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str  # course/NN-<slug>/
    title: str
    package: str  # zero2hero.<package>
    cpu_note: str  # what running it without a GPU means


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "text-fundamentals", "Fundamentals of NLP", "text", "pure Python, instant"),
    Chapter(2, "tokenization-embeddings", "Modern tokenization and embeddings", "tokenization, embeddings",
            "CPU-bound tokenizer training; no GPU needed"),
    Chapter(3, "transformers", "Transformers and pre-trained models", "transformer",
            "generation from a 135M model runs at tens of tokens/s on a laptop CPU"),
    Chapter(4, "inference-quantization", "Inference and basic optimizations", "quantization",
            "bitsandbytes 8/4-bit needs a CUDA GPU and is skipped; CPU int8/int4 paths run"),
    Chapter(5, "fine-tuning", "Conventional fine-tuning", "finetuning",
            "full fine-tuning of a small encoder takes minutes per epoch on CPU"),
    Chapter(6, "peft-lora", "Parameter-efficient fine-tuning and LoRA", "lora",
            "LoRA keeps CPU fine-tuning of a 135M model practical"),
    Chapter(7, "llama-models", "LLaMA-like models and large LLMs", "llama",
            "llama.cpp runs 4-bit models fast on CPU"),
    Chapter(8, "prompting", "Prompting and quality refinement", "prompting", "inference only"),
    Chapter(9, "end-to-end-app", "End-to-end project: an LLM application", "pipeline",
            "small data sets and LoRA keep it CPU-sized"),
    Chapter(10, "cutting-edge", "RLHF, instruction tuning and multimodal models", "alignment, multimodal",
            "tiny SFT/DPO and contrastive runs sized for CPU"),
)


def chapter(number: int) -> Chapter:
    from zero2hero.errors import UnknownNameError

    for ch in CHAPTERS:
        if ch.number == number:
            return ch
    raise UnknownNameError(f"there is no chapter {number}", "chapters are numbered 1 to 10; see `z2h list`")
