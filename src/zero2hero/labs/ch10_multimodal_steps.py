"""Lab 10's multimodal steps: a tiny CLIP trained from scratch on rendered scenes and handwritten digits, then a
LLaVA-style captioner that projects its image features into SmolLM2.

Two held-out sets of scenes: new images of the (shape, colour) combinations seen in training, and images of the
three combinations never seen (:func:`zero2hero.multimodal.scenes.held_out_combinations`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zero2hero.progress import step_bar
from zero2hero.reporting import Figure, RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    import torch

    from zero2hero.labs.ch10_cutting_edge import Config
    from zero2hero.multimodal.data import ImageTextSet

TEST_SEED_OFFSET = 1000  # the seen-combination test images are rendered with another jitter seed than training's


class MultimodalSteps:
    """What the steps share: the image–text sets and the trained CLIP."""

    def __init__(self, config: Config, ctx: RunContext) -> None:
        from zero2hero.multimodal.data import digit_sets, scene_set, scene_sets, seen_scenes

        self.config, self.ctx = config, ctx
        per = config.scenes_per_combination
        self.scenes_train, self.unseen = scene_sets(per, seed=config.seed)
        self.seen = scene_set(seen_scenes(config.seed), max(1, per // 4), seed=config.seed + TEST_SEED_OFFSET)
        self.digits_train, self.digits_test = digit_sets(seed=config.seed)
        self.clip_model: Any = None

    def clip(self) -> Section:
        from zero2hero.multimodal.clip import CLIPConfig, train_clip
        from zero2hero.multimodal.data import class_labels, digit_prompts, mix, shape_colour_prompts
        from zero2hero.multimodal.retrieval import chance_recall, retrieval_recall, zero_shot_accuracy
        from zero2hero.multimodal.scenes import all_scenes

        c = self.config
        self.clip_model, losses = train_clip(mix(self.scenes_train, self.digits_train),
                                             CLIPConfig(epochs=c.clip_epochs, seed=c.seed),
                                             progress=step_bar("tiny CLIP"))
        captions = sorted({scene.caption() for scene in all_scenes()})
        prompts = shape_colour_prompts()
        rows = []
        for name, images, classes in (("scenes, seen combinations, new images", self.seen, captions),
                                      ("scenes, unseen combinations", self.unseen, captions),
                                      ("scenes, unseen combinations (shape and colour only)", self.unseen, prompts),
                                      ("handwritten digits, held out", self.digits_test, digit_prompts())):
            accuracy = zero_shot_accuracy(self.clip_model, images.images, classes,
                                          class_labels(images.captions, classes))
            rows.append([name, len(images), len(classes), accuracy, 1 / len(classes)])
        section = Section()
        for key, row in zip(("seen", "unseen", "unseen_shape_colour", "digits"), rows, strict=True):
            section.metric(f"clip_{key}_zero_shot_accuracy", row[3], f"zero-shot: {row[0]}, {row[2]} captions")
        section.tables.append(Table("Tiny CLIP: zero-shot classification by the nearest caption",
                                    ["images", "count", "captions to choose from", "accuracy", "chance"], rows))
        recall_rows = []
        for name, images in (("seen combinations, new images", self.seen), ("unseen combinations", self.unseen),
                             ("digits", self.digits_test)):
            recall, chance = retrieval_recall(self.clip_model, images.images, images.captions), \
                chance_recall(images.captions)
            recall_rows += [[name, key, value, chance[key]] for key, value in recall.items()]
        section.tables.append(Table("Tiny CLIP: retrieval recall among each set's own captions (a hit is any item "
                                    "with the same caption)", ["images", "measure", "recall", "chance"], recall_rows))
        section.metric("clip_seen_image_to_text_recall_at_1_ratio", recall_rows[0][2],
                       "image → text recall@1 on new images of seen combinations")
        section.figures.append(_curve(self.ctx, losses, "clip_loss.png", "Tiny CLIP: InfoNCE loss", "contrastive loss"))
        return section

    def captioner(self) -> Section:
        from zero2hero.multimodal.captioner import (
            CaptionerConfig,
            attribute_accuracy,
            generate_captions,
            train_captioner,
        )

        c = self.config
        captioner, losses = train_captioner(self.clip_model, self.scenes_train,
                                            CaptionerConfig(steps=c.captioner_steps, seed=c.seed),
                                            progress=step_bar("captioner"))
        section = Section()
        rows, shown = [], {}
        for key, images in (("seen", self.seen), ("unseen", self.unseen)):
            picked = _spread(images, c.caption_images)
            captions = generate_captions(captioner, picked.images)
            scores = attribute_accuracy(captions, picked.attributes)
            rows.append([key, len(picked), scores["shape"], scores["colour"], scores["position"], scores["all"]])
            for attribute, value in scores.items():
                section.metric(f"captioner_{key}_{attribute}_accuracy", value,
                               f"{key}-combination scenes whose caption names the right {attribute}"
                               if attribute != "all" else f"{key}-combination scenes with all three attributes right")
            shown[key] = (picked, captions)
        section.tables.append(Table("Captioner: attributes named right in the captions of held-out scenes",
                                    ["combinations", "images", "shape", "colour", "position", "all three"], rows))
        examples = {key: _distinct(picked.captions, c.captions_shown // 2) for key, (picked, _) in shown.items()}
        section.tables.append(Table("Captions of held-out scenes (one per scene shown)",
                                    ["combinations", "truth", "generated"],
                                    [[key, shown[key][0].captions[i], shown[key][1][i]]
                                     for key, rows in examples.items() for i in rows]))
        section.figures.append(_curve(self.ctx, losses, "captioner_loss.png", "Captioner: caption loss",
                                      "cross-entropy"))
        section.figures.append(_caption_grid(self.ctx, shown, examples))
        return section


def _spread(images: ImageTextSet, count: int) -> ImageTextSet:
    """``count`` images taken evenly across ``images`` (every scene is represented), or all of them."""
    from zero2hero.multimodal.data import ImageTextSet

    if count == 0 or count >= len(images):
        return images
    rows = _evenly_spaced(len(images), count)
    return ImageTextSet(images.images[rows], [images.captions[i] for i in rows],
                        [images.attributes[i] for i in rows])


def _curve(ctx: RunContext, values: list[float], filename: str, title: str, ylabel: str) -> Figure:
    fig, ax = new_figure((6.0, 3.2))
    ax.plot(range(1, len(values) + 1), values)
    ax.set(xlabel="step", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    return ctx.save_figure(fig, filename, title)


def _distinct(captions: list[str], count: int) -> list[int]:
    """Up to ``count`` positions in ``captions``, each of a different caption, spread across the distinct ones."""
    firsts = [captions.index(caption) for caption in dict.fromkeys(captions)]  # each caption's first image
    if count >= len(firsts):
        return firsts
    return [firsts[j] for j in _evenly_spaced(len(firsts), count)]


def _evenly_spaced(length: int, count: int) -> list[int]:
    """``count`` positions spread evenly over ``range(length)``, the first and the last included (count ≤ length)."""
    return [round(i * (length - 1) / max(1, count - 1)) for i in range(count)]


def _caption_grid(ctx: RunContext, shown: dict[str, tuple[ImageTextSet, list[str]]],
                  examples: dict[str, list[int]]) -> Figure:
    """One row per kind (seen, unseen combinations): each image titled with its generated caption and the truth."""
    columns = max(1, max(len(rows) for rows in examples.values()))
    fig, axes = new_figure((2.6 * columns, 2.6 * len(examples)), nrows=len(examples), ncols=columns, squeeze=False)
    for row, (kind, positions) in zip(axes, examples.items(), strict=True):
        picked, captions = shown[kind]
        for column, ax in enumerate(row):
            ax.axis("off")
            if column < len(positions):
                i = positions[column]
                ax.imshow(_as_pixels(picked.images[i]))
                wrong = captions[i] != picked.captions[i]
                ax.set_title(f"{captions[i]}\n(truth: {picked.captions[i]})", fontsize=7,
                             color="firebrick" if wrong else "black")
        row[0].text(-0.15, 0.5, f"{kind}\ncombinations", transform=row[0].transAxes, ha="right", va="center",
                    fontsize=8)
    return ctx.save_figure(fig, "captions.png", "Captions of held-out scenes",
                           "Generated captions above each image, the caption it was rendered from in brackets (red: "
                           "the two differ); top row: (shape, colour) combinations seen in training, bottom row: "
                           "combinations never seen.")


def _as_pixels(image: torch.Tensor) -> Any:
    """(3, h, w) floats in [0, 1] -> (h, w, 3) for matplotlib."""
    return image.permute(1, 2, 0).clamp(0, 1).numpy()
