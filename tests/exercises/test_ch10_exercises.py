"""Chapter 10 exercise checks: `z2h check 10` runs them on course/10-cutting-edge/exercises.py.

Oracles: SFT labels written by hand (and built position by position in a loop for random batches); the three losses
computed another way with ``torch.nn.functional`` — Bradley–Terry and DPO as a binary cross-entropy with logits on
the margin, InfoNCE as two ``cross_entropy`` calls on the similarity matrix of normalised rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from zero2hero.checks.feedback import Hint, call_learner, expect, expect_close, expect_equal

CHAPTER = 10
REFERENCE = {
    "sft_labels": "zero2hero.alignment.sft",
    "bradley_terry_loss": "zero2hero.alignment.reward",
    "dpo_loss": "zero2hero.alignment.dpo",
    "contrastive_loss": "zero2hero.multimodal.clip",
}
IGNORE = -100


def _as_tensor(got: Any) -> Any:
    """``got`` as a tensor when it is a (nested) list of numbers, else as it is."""
    try:
        return torch.tensor(got) if isinstance(got, list) else got
    except (TypeError, ValueError):
        return got


def _close(got: Any, expected: torch.Tensor) -> bool:
    got = _as_tensor(got)
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and bool(torch.allclose(got.detach().double(), expected.double(), atol=1e-5, rtol=1e-5)))


def _scalar(got: Any, what: str, hints: list[Hint]) -> None:
    expect(isinstance(got, torch.Tensor) and got.dim() == 0, what,
           f"expected a scalar tensor (shape ()), got {got!r:.80}", got, hints)


# ---- the response-only SFT labels --------------------------------------------------------------------------------

# Two examples: a 2-token prompt, a 3-token response, 2 padding positions; a 4-token prompt, a 3-token response.
HAND_IDS = torch.tensor([[5, 6, 7, 8, 9, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
HAND_PROMPTS = torch.tensor([2, 4])
HAND_MASK = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
HAND_LABELS = torch.tensor([[IGNORE, IGNORE, 7, 8, 9, IGNORE, IGNORE], [IGNORE, IGNORE, IGNORE, IGNORE, 5, 6, 7]])
# The padding token is often the end-of-text token, which also ends every response: only the mask tells them apart.
EOS_IDS = torch.tensor([[11, 12, 13, 2, 2, 2], [11, 12, 14, 15, 16, 2]])
EOS_PROMPTS = torch.tensor([2, 3])
EOS_MASK = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
EOS_LABELS = torch.tensor([[IGNORE, IGNORE, 13, 2, IGNORE, IGNORE], [IGNORE, IGNORE, IGNORE, 15, 16, 2]])


def _labels_by_position(ids: torch.Tensor, prompts: torch.Tensor, mask: torch.Tensor, shift: int = 0,
                        mask_padding: bool = True, value: int = IGNORE) -> torch.Tensor:
    """The labels built one position at a time (``shift`` and the flags make the common mistakes)."""
    labels = ids.clone()
    for row in range(ids.shape[0]):
        for position in range(ids.shape[1]):
            if position < int(prompts[row]) + shift or (mask_padding and mask[row, position] == 0):
                labels[row, position] = value
    return labels


def _random_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    batch, width = 5, 12
    ids = torch.randint(1, 500, (batch, width), generator=generator)
    prompts = torch.randint(1, 6, (batch,), generator=generator)
    responses = torch.randint(1, 6, (batch,), generator=generator)
    lengths = torch.minimum(prompts + responses, torch.tensor(width))
    mask = (torch.arange(width) < lengths[:, None]).long()
    return ids.masked_fill(mask == 0, 2), prompts, mask


def _zero_where_ignored(got: Any, expected: torch.Tensor, ids: torch.Tensor) -> bool:
    """Whether ``got`` holds 0 at a masked position whose token is not 0."""
    got = _as_tensor(got)
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and bool(((got == 0) & (expected == IGNORE) & (ids != 0)).any()))


def _label_hints(ids: torch.Tensor, prompts: torch.Tensor, mask: torch.Tensor) -> list[Hint]:
    return [
        (lambda got: _close(got, _labels_by_position(ids, prompts, mask, mask_padding=False)),
         "the padding positions must hold -100 too: set them where attention_mask == 0"),
        (lambda got: _close(got, _labels_by_position(ids, prompts, mask, shift=-1))
         or _close(got, _labels_by_position(ids, prompts, mask, shift=1)),
         "off by one: positions 0 .. prompt_length - 1 are the prompt (prompt_length of them); the response starts at "
         "index prompt_length"),
        (lambda got: _zero_where_ignored(got, _labels_by_position(ids, prompts, mask), ids),
         "write IGNORE_INDEX (-100) on masked positions, not 0: cross-entropy skips -100 only"),
        (lambda got: _close(got, ids.masked_fill(_labels_by_position(ids, prompts, mask) != IGNORE, IGNORE))
         or _close(got, ids.masked_fill(torch.arange(ids.shape[1]) >= prompts[:, None], IGNORE)),
         "the mask is inverted: keep the response tokens and hide the prompt"),
        (lambda got: _close(got, torch.where(ids == 2, IGNORE, _labels_by_position(ids, prompts, mask,
                                                                                    mask_padding=False))),
         "find padding with attention_mask == 0, not by the token id: the padding token is also the end-of-text "
         "token that closes each response, and that one must be learned"),
    ]


def _check_labels(ex, ids: torch.Tensor, prompts: torch.Tensor, mask: torch.Tensor, expected: torch.Tensor) -> None:
    what = f"sft_labels(input_ids={ids.tolist()}, prompt_lengths={prompts.tolist()}, attention_mask={mask.tolist()})"
    hints = _label_hints(ids, prompts, mask)
    original = ids.clone()
    got = call_learner(what, ex.sft_labels, (ids, prompts.clone(), mask.clone()), hints)
    expect(torch.equal(ids, original), what, "input_ids was modified: return a new tensor (ids.clone(), or "
           "torch.where) and leave the batch as it was", ids.tolist())
    expect(isinstance(got, torch.Tensor) and got.dtype == torch.long, what,
           "expected a tensor of token ids (dtype torch.long)", got, hints)
    expect_equal(got.tolist(), expected.tolist(), what, hints)


def test_sft_labels_hide_the_prompt_and_the_padding(ex) -> None:
    _check_labels(ex, HAND_IDS.clone(), HAND_PROMPTS, HAND_MASK, HAND_LABELS)


def test_sft_labels_keep_the_end_of_text_token_that_ends_a_response(ex) -> None:
    _check_labels(ex, EOS_IDS.clone(), EOS_PROMPTS, EOS_MASK, EOS_LABELS)


def test_sft_labels_on_random_batches(ex) -> None:
    for seed in range(4):
        ids, prompts, mask = _random_batch(seed)
        _check_labels(ex, ids, prompts, mask, _labels_by_position(ids, prompts, mask))


# ---- Bradley–Terry -----------------------------------------------------------------------------------------------

def _preference_loss(margin: torch.Tensor) -> torch.Tensor:
    """The mean of -log σ(margin), as a binary cross-entropy whose target is "the chosen response wins"."""
    return F.binary_cross_entropy_with_logits(margin.double(), torch.ones_like(margin, dtype=torch.float64))


def _rewards(seed: int, batch: int = 6, scale: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return scale * torch.randn(batch, generator=generator), scale * torch.randn(batch, generator=generator)


def _loss_hints(loss_of_margin: Callable[[torch.Tensor], torch.Tensor], margin: torch.Tensor,
                size: int) -> list[Hint]:
    return [
        (lambda got: _close(got, loss_of_margin(-margin)),
         "the sign is flipped: the loss is low when the chosen response has the higher reward (chosen - rejected)"),
        (lambda got: _close(got, -loss_of_margin(margin)), "the loss is the NEGATIVE log-probability: -logsigmoid"),
        (lambda got: _close(got, size * loss_of_margin(margin)), "average over the batch (.mean()), do not sum"),
        (lambda got: isinstance(got, torch.Tensor) and not bool(torch.isfinite(got).all()),
         "log(sigmoid(x)) underflows to log(0) = -inf for a very negative x: use F.logsigmoid(x), which stays finite"),
    ]


def test_bradley_terry_loss_on_random_rewards(ex) -> None:
    for seed in range(3):
        chosen, rejected = _rewards(seed)
        what = f"bradley_terry_loss({chosen.tolist()}, {rejected.tolist()})"
        hints = _loss_hints(_preference_loss, chosen - rejected, chosen.numel())
        got = call_learner(what, ex.bradley_terry_loss, (chosen, rejected), hints)
        _scalar(got, what, hints)
        expect_close(got, _preference_loss(chosen - rejected).float(), what, hints=hints)


def test_bradley_terry_loss_is_stable_and_trainable(ex) -> None:
    chosen = torch.tensor([-150.0, 120.0, 0.5], requires_grad=True)
    rejected = torch.tensor([60.0, -80.0, 0.0])
    what = f"bradley_terry_loss({chosen.tolist()}, {rejected.tolist()})"
    hints = _loss_hints(_preference_loss, (chosen - rejected).detach(), 3)
    got = call_learner(what, ex.bradley_terry_loss, (chosen, rejected), hints)
    _scalar(got, what, hints)
    expect_close(got, _preference_loss((chosen - rejected).detach()).float(), what, hints=hints)
    expect(got.requires_grad, what, "the loss must stay a torch computation (no .item(), no numpy) so that "
           "backward() reaches the rewards", got)


# ---- DPO ---------------------------------------------------------------------------------------------------------

def _logps(seed: int, batch: int = 5) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(-30 + 10 * torch.randn(batch, generator=generator) for _ in range(4))


def _dpo_margin(logps: tuple[torch.Tensor, ...], beta: float) -> torch.Tensor:
    policy_chosen, policy_rejected, reference_chosen, reference_rejected = logps
    return beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))


def _dpo_hints(logps: tuple[torch.Tensor, ...], beta: float) -> list[Hint]:
    margin = _dpo_margin(logps, beta)
    return _loss_hints(_preference_loss, margin, logps[0].numel()) + [
        (lambda got: _close(got, _preference_loss(margin / beta)),
         "multiply the log-ratios by beta: the implicit reward is beta * (policy logp - reference logp)"),
        (lambda got: _close(got, beta * _preference_loss(margin / beta)),
         "beta goes inside the logsigmoid, on the margin, not on the loss"),
        (lambda got: _close(got, _preference_loss(_dpo_margin((logps[0], logps[1], -logps[2], -logps[3]), beta))),
         "subtract the reference log-probabilities (policy - reference), do not add them"),
    ]


def test_dpo_loss_on_random_log_probabilities(ex) -> None:
    for seed, beta in ((0, 0.1), (1, 0.5), (2, 1.0)):
        logps = _logps(seed)
        what = f"dpo_loss(*{[t.tolist() for t in logps]}, beta={beta})"
        hints = _dpo_hints(logps, beta)
        got = call_learner(what, lambda *a, beta=beta: ex.dpo_loss(*a, beta=beta), logps, hints)
        _scalar(got, what, hints)
        expect_close(got, _preference_loss(_dpo_margin(logps, beta)).float(), what, hints=hints)


def test_dpo_loss_is_stable_and_trainable(ex) -> None:
    policy_chosen = torch.tensor([-900.0, -10.0], requires_grad=True)
    logps = (policy_chosen, torch.tensor([-5.0, -400.0]), torch.tensor([-8.0, -12.0]), torch.tensor([-6.0, -9.0]))
    what = f"dpo_loss(*{[t.tolist() for t in logps]}, beta=1.0)"
    hints = _dpo_hints(tuple(t.detach() for t in logps), 1.0)
    got = call_learner(what, lambda *a: ex.dpo_loss(*a, beta=1.0), logps, hints)
    _scalar(got, what, hints)
    expect_close(got, _preference_loss(_dpo_margin(tuple(t.detach() for t in logps), 1.0)).float(), what,
                 hints=hints)
    expect(got.requires_grad, what, "the loss must stay a torch computation (no .item(), no numpy) so that "
           "backward() reaches the policy", got)


def test_dpo_loss_is_log_2_when_the_policy_is_the_reference(ex) -> None:
    chosen, rejected = torch.tensor([-12.0, -40.0, -3.0]), torch.tensor([-15.0, -2.0, -30.0])
    what = f"dpo_loss({chosen.tolist()}, {rejected.tolist()}, {chosen.tolist()}, {rejected.tolist()})"
    got = call_learner(what, ex.dpo_loss, (chosen, rejected, chosen.clone(), rejected.clone()))
    expect_close(got, torch.tensor(torch.log(torch.tensor(2.0)).item()), what,
                 hints=[(lambda got: True, "a policy equal to its reference has margin 0 and loss -log σ(0) = log 2: "
                                           "compare each policy log-probability with the reference one")])


# ---- CLIP's contrastive loss -------------------------------------------------------------------------------------

def _info_nce(images: torch.Tensor, texts: torch.Tensor, temperature: float, directions: int = 2,
              normalise: bool = True, reduction: str = "mean") -> torch.Tensor:
    """The oracle (and, through its flags, the common mistakes)."""
    if normalise:
        images, texts = F.normalize(images.double(), dim=-1), F.normalize(texts.double(), dim=-1)
    logits = images.double() @ texts.double().T / temperature
    targets = torch.arange(len(images))
    image_to_text = F.cross_entropy(logits, targets, reduction=reduction)
    if directions == 1:
        return image_to_text
    return (image_to_text + F.cross_entropy(logits.T, targets, reduction=reduction)) / 2


def _embeddings(seed: int, batch: int = 6, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = 3 * torch.randn(batch, dim, generator=generator)
    return images, images + 2 * torch.randn(batch, dim, generator=generator)  # related rows, different lengths


def _clip_hints(images: torch.Tensor, texts: torch.Tensor, temperature: float) -> list[Hint]:
    return [
        (lambda got: _close(got, _info_nce(images, texts, temperature, normalise=False).float()),
         "normalise every row to unit length first (F.normalize(x, dim=-1)): the similarity is a cosine"),
        (lambda got: _close(got, _info_nce(images, texts, temperature, directions=1).float())
         or _close(got, _info_nce(texts, images, temperature, directions=1).float()),
         "the loss is symmetric: average the image → text cross-entropy (rows) and the text → image one (columns)"),
        (lambda got: _close(got, _info_nce(images, texts, 1 / temperature).float()),
         "divide the similarities by the temperature, do not multiply"),
        (lambda got: _close(got, _info_nce(images, texts, temperature, reduction="sum").float()),
         "average over the batch: cross_entropy's default reduction='mean'"),
        (lambda got: _close(got, _info_nce(images, texts, 1.0).float()),
         "use the temperature: logits = image @ text.T / temperature"),
    ]


def test_contrastive_loss_on_random_embeddings(ex) -> None:
    for seed, temperature in ((0, 0.07), (1, 0.5), (2, 1.0)):
        images, texts = _embeddings(seed)
        what = f"contrastive_loss(images (6, 8) seed {seed}, texts (6, 8), temperature={temperature})"
        hints = _clip_hints(images, texts, temperature)
        got = call_learner(what, ex.contrastive_loss, (images, texts, temperature), hints)
        _scalar(got, what, hints)
        expect_close(got, _info_nce(images, texts, temperature).float(), what, hints=hints)


def test_contrastive_loss_takes_a_learnable_temperature(ex) -> None:
    images, texts = _embeddings(3, batch=4, dim=5)
    images.requires_grad_(True)
    temperature = torch.tensor(0.2, requires_grad=True)
    what = "contrastive_loss(images (4, 5), texts (4, 5), temperature=tensor(0.2, requires_grad=True))"
    hints = _clip_hints(images.detach(), texts, 0.2)
    got = call_learner(what, ex.contrastive_loss, (images, texts, temperature), hints)
    _scalar(got, what, hints)
    expect_close(got, _info_nce(images.detach(), texts, 0.2).float(), what, hints=hints)
    got.backward()
    expect(temperature.grad is not None and images.grad is not None, what,
           "the loss must stay a torch computation so that backward() reaches the embeddings and the temperature")


def test_contrastive_loss_is_near_zero_for_perfect_pairs(ex) -> None:
    texts = torch.eye(5) * 4.0  # five orthogonal captions; each image points the same way as its own
    what = "contrastive_loss(images = texts = 4·identity (5, 5), temperature=0.01)"
    got = call_learner(what, ex.contrastive_loss, (texts.clone(), texts, 0.01))
    expect(isinstance(got, torch.Tensor) and float(got) < 1e-6, what,
           "expected a loss near 0 when every image matches only its own caption, with a low temperature", got,
           _clip_hints(texts, texts, 0.01))
