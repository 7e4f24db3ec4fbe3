"""Chapter 10 exercises: the four losses behind instruction tuning, preference learning and multimodal models.

Instruction tuning (supervised fine-tuning, SFT) trains a model on prompts and answers, but only the answer is
learned: the prompt's tokens are masked out of the loss. A reward model learns from pairs a person (or a rule)
judged — the Bradley–Terry model turns "A is better than B" into a probability. DPO skips the reward model and
trains the policy directly on the same pairs, against a frozen reference. CLIP learns a shared space for images and
captions by pulling each image towards its own caption and away from the others in the batch (InfoNCE).

You write, in order: the response-only labels of an SFT batch (checked on batches built by hand, with padding), the
Bradley–Terry loss, the DPO loss and CLIP's contrastive loss (each checked against the same quantity computed another
way with ``torch.nn.functional``, on random batches and on extreme values where a naive formula overflows).

Fill in each function, then run `z2h check 10`. ``torch.nn.functional`` (``logsigmoid``, ``normalize``,
``cross_entropy``) holds everything you need; import what you use.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy skips (zero2hero.alignment.sft.IGNORE_INDEX)


def sft_labels(input_ids: torch.Tensor, prompt_lengths: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The labels for response-only supervised fine-tuning of a batch of chat examples.

    ``input_ids`` (batch, t) holds each example's prompt (chat template included) followed by its response, then
    right padding; ``prompt_lengths`` (batch,) counts each example's prompt tokens; ``attention_mask`` (batch, t) is
    1 on real tokens and 0 on padding. Return a new (batch, t) tensor equal to ``input_ids`` except that every
    prompt position and every padding position holds ``IGNORE_INDEX`` (-100), so the loss is computed only on the
    response tokens. Do not modify ``input_ids``.
    """
    raise NotImplementedError


def bradley_terry_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """The Bradley–Terry loss of a reward model on a batch of preference pairs.

    ``chosen_rewards`` and ``rejected_rewards`` (batch,) are the scalar rewards the model gives the preferred and
    the rejected response of each pair. Under the Bradley–Terry model the probability that the chosen response
    wins is ``sigmoid(chosen - rejected)``; return the mean over the batch of its negative log, a scalar tensor.
    Compute it stably: ``-logsigmoid(chosen - rejected)``, not ``-log(sigmoid(...))``.
    """
    raise NotImplementedError


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             reference_chosen_logps: torch.Tensor, reference_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> torch.Tensor:
    """The DPO loss (Rafailov et al., 2023) of a batch of preference pairs.

    Each argument (batch,) is the summed log-probability of the chosen or rejected response (response tokens
    only) under the policy being trained or under the frozen reference model. The implicit reward of a response
    is ``beta * (policy logp - reference logp)``; return the mean over the batch of
    ``-logsigmoid(chosen reward - rejected reward)``, a scalar tensor.
    """
    raise NotImplementedError


def contrastive_loss(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor,
                     temperature: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric contrastive (InfoNCE) loss for a batch of matching image–text pairs.

    ``image_embeddings`` and ``text_embeddings`` (batch, d) are the two encoders' outputs, row i of each coming
    from the same pair. Normalise every row to unit length, compute the (batch, batch) similarity matrix
    ``image @ text.T / temperature`` and return the mean of two cross-entropies whose correct class is the
    diagonal: one over each row (image → text) and one over each column (text → image). A scalar tensor.
    """
    raise NotImplementedError
