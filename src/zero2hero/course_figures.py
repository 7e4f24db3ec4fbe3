"""Copy the figures each lesson shows from full lab runs into ``course/NN-*/figures/``.

``make figures`` runs ``z2h lab N --full --out RUN_DIR`` for each chapter of :data:`LESSON_FIGURES`, then
``python -m zero2hero.course_figures RUN_DIR``, which finds each PNG a lesson uses under ``RUN_DIR`` (the newest
run wins) and writes it beside the lesson.
"""

from __future__ import annotations

import sys
from pathlib import Path

from zero2hero.errors import AssetMissingError, InputError, Zero2HeroError
from zero2hero.files import atomic_write_bytes

COURSE_DIR = Path(__file__).resolve().parents[2] / "course"

# chapter -> the PNGs its lesson embeds, as the chapter's lab names them.
LESSON_FIGURES: dict[int, tuple[str, ...]] = {
    1: ("top_words.png", "zipf.png"),
    2: ("bpe_vocab_sweep.png", "similarity_heatmap.png", "embeddings_pca.png"),
    3: ("attention_heads.png", "mlm_vs_clm_loss.png"),
    4: ("size_vs_perplexity.png",),
    5: ("sweep_heatmap.png", "loss_curves.png", "overfitting.png", "confusion_matrix.png", "reliability_diagram.png"),
    6: ("f1_vs_trainable.png", "memory_components.png", "loss_curves.png"),
    7: ("model_memory_vs_ram.png", "bench_decode_speed.png", "scaling_loss_vs_params.png", "scaling_isoflop.png",
        "quantization_by_size.png"),
    8: ("fewshot_curves.png", "cot_by_level.png", "soft_prompt_training.png"),
    9: ("stage_seconds.png", "latency.png", "app_page.png"),
    10: ("sft_loss.png", "reward_loss.png", "dpo_loss.png", "grpo_reward.png", "clip_loss.png", "captions.png"),
}


def chapter_dir(chapter: int, course_dir: Path = COURSE_DIR) -> Path:
    """The folder ``course/NN-<slug>`` of ``chapter``, named by the chapter registry."""
    from zero2hero.chapters import chapter as registered

    folder = course_dir / registered(chapter).folder_name
    if not folder.is_dir():
        raise InputError(f"{folder} does not exist", "run this from a zero2hero checkout")
    return folder


def newest_figure(run_dir: Path, name: str, chapter: int) -> Path:
    """The most recently written ``name`` under ``run_dir`` in a run folder of ``chapter``'s lab (run folders end
    with the lab's id, e.g. ``20261126-021123-ch05_fine_tuning``: two labs may write figures of the same name)."""
    from zero2hero.chapters import chapter as registered

    lab_id = registered(chapter).lab_id
    found = sorted((p for p in run_dir.rglob(name) if p.parent.name.endswith(lab_id)), key=lambda p: p.stat().st_mtime)
    if not found:
        raise AssetMissingError(f"no {name} of lab {chapter} under {run_dir}",
                                f"run the lab there first: z2h lab {chapter} --full --out {run_dir}")
    return found[-1]


def copy_lesson_figures(run_dir: Path, course_dir: Path = COURSE_DIR) -> list[Path]:
    """Copy every figure of :data:`LESSON_FIGURES` from ``run_dir`` into its chapter's ``figures/``; returns the
    files written. Nothing is written unless every figure was found."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir} is not a folder", "pass the --out folder of the lab runs")
    sources = {(chapter, name): newest_figure(run_dir, name, chapter)
               for chapter, names in LESSON_FIGURES.items() for name in names}
    written = []
    for (chapter, name), source in sources.items():
        target = chapter_dir(chapter, course_dir) / "figures" / name
        atomic_write_bytes(target, source.read_bytes())
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m zero2hero.course_figures RUN_DIR", file=sys.stderr)
        return 2
    try:
        written = copy_lesson_figures(Path(argv[0]))
    except Zero2HeroError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path.stat().st_size / 1e3:7.1f} kB  {path.relative_to(COURSE_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
