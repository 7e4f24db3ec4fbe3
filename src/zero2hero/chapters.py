"""The ten chapters of the course — the one registry every other name derives from.

A chapter's slug gives its course folder (``course/NN-<slug>/``) and its lab module
(``zero2hero.labs.chNN_<slug with underscores>``); ``packages`` are the library packages that teach it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str  # e.g. "inference-quantization"
    title: str
    packages: tuple[str, ...]  # zero2hero.<package> for each
    cpu_note: str  # what running it without a GPU means

    @property
    def folder_name(self) -> str:
        """The course folder's name, e.g. ``04-inference-quantization``."""
        return f"{self.number:02d}-{self.slug}"

    @property
    def lab_id(self) -> str:
        """The lab module's name (and the lab's id in run folders), e.g. ``ch04_inference_quantization``."""
        return f"ch{self.number:02d}_{self.slug.replace('-', '_')}"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "text-fundamentals", "Fundamentals of NLP", ("text",), "pure Python, instant"),
    Chapter(2, "tokenization-embeddings", "Modern tokenization and embeddings", ("tokenization", "embeddings"),
            "CPU-bound tokenizer training; no GPU needed"),
    Chapter(3, "transformers", "Transformers and pre-trained models", ("transformer",),
            "generation from a 135M model runs at tens of tokens/s on a laptop CPU"),
    Chapter(4, "inference-quantization", "Inference and basic optimizations", ("quantization",),
            "everything runs on the CPU; bitsandbytes 8-bit/NF4 runs too, but its CPU fallback is slow"),
    Chapter(5, "fine-tuning", "Conventional fine-tuning", ("finetuning",),
            "full fine-tuning of a small encoder takes minutes per epoch on CPU"),
    Chapter(6, "peft-lora", "Parameter-efficient fine-tuning and LoRA", ("lora",),
            "LoRA keeps CPU fine-tuning of a 135M model practical"),
    Chapter(7, "llama-models", "LLaMA-like models and large LLMs", ("llama",),
            "llama.cpp runs 4-bit models fast on CPU"),
    Chapter(8, "prompting", "Prompting and quality refinement", ("prompting",), "inference only"),
    Chapter(9, "end-to-end-app", "End-to-end project: an LLM application", ("pipeline", "app"),
            "small data sets and LoRA keep it CPU-sized"),
    Chapter(10, "cutting-edge", "RLHF, instruction tuning and multimodal models", ("alignment", "multimodal"),
            "tiny SFT/DPO and contrastive runs sized for CPU"),
)


def chapter(number: int) -> Chapter:
    from zero2hero.errors import UnknownNameError

    for ch in CHAPTERS:
        if ch.number == number:
            return ch
    raise UnknownNameError(f"there is no chapter {number}", "chapters are numbered 1 to 10; see `z2h list`")
