"""Chapter 10: each exercise check, fed a deliberately wrong solution for a common mistake, names that mistake.

Each wrong solution is the reference module (sft, reward, dpo or clip) with one line changed the way a learner might
get it wrong; the other three functions stay the reference's.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.checks.mutation import failure_message, with_changed_line
from tests.exercises import test_ch10_exercises as ch10

PADDING = "    labels[attention_mask == 0] = IGNORE_INDEX\n"
PROMPT = "    in_prompt = positions < prompt_lengths.to(input_ids.device).unsqueeze(1)"
BT = "    log_win_probability = F.logsigmoid(margin)"
DPO_CHOSEN = "    chosen_rewards = beta * (policy_chosen_logps - reference_chosen_logps)"
DPO_REJECTED = "    rejected_rewards = beta * (policy_rejected_logps - reference_rejected_logps)"
DPO_LOSS = "    return -F.logsigmoid(chosen_rewards - rejected_rewards).mean()"
CLIP_NORM = "    images = F.normalize(image_embeddings, dim=-1)\n    texts = F.normalize(text_embeddings, dim=-1)"
CLIP_LOGITS = "    logits = images @ texts.T / temperature"
CLIP_LOSS = "    return (image_to_text + text_to_image) / 2"

MISTAKES = [  # (function, check, old, new, what its message must say)
    ("sft_labels", ch10.test_sft_labels_hide_the_prompt_and_the_padding, PADDING, "", "the padding positions"),
    ("sft_labels", ch10.test_sft_labels_hide_the_prompt_and_the_padding, PROMPT, PROMPT.replace("<", "<="),
     "off by one"),
    ("sft_labels", ch10.test_sft_labels_on_random_batches, "    labels[in_prompt] = IGNORE_INDEX",
     "    labels[in_prompt] = 0", "not 0"),
    ("sft_labels", ch10.test_sft_labels_hide_the_prompt_and_the_padding, "    labels = input_ids.clone()",
     "    labels = input_ids", "input_ids was modified"),
    ("sft_labels", ch10.test_sft_labels_keep_the_end_of_text_token_that_ends_a_response, PADDING,
     "    labels[input_ids == 2] = IGNORE_INDEX\n", "not by the token id"),
    ("sft_labels", ch10.test_sft_labels_hide_the_prompt_and_the_padding, PROMPT, PROMPT.replace("<", ">="),
     "inverted"),
    ("bradley_terry_loss", ch10.test_bradley_terry_loss_on_random_rewards, "    margin = chosen_rewards - "
     "rejected_rewards", "    margin = rejected_rewards - chosen_rewards", "the sign is flipped"),
    ("bradley_terry_loss", ch10.test_bradley_terry_loss_on_random_rewards, "    return -log_win_probability.mean()",
     "    return -log_win_probability.sum()", "do not sum"),
    ("bradley_terry_loss", ch10.test_bradley_terry_loss_on_random_rewards, "    return -log_win_probability.mean()",
     "    return log_win_probability.mean()", "NEGATIVE log-probability"),
    ("bradley_terry_loss", ch10.test_bradley_terry_loss_is_stable_and_trainable, BT,
     "    log_win_probability = torch.log(torch.sigmoid(margin))", "use F.logsigmoid"),
    ("bradley_terry_loss", ch10.test_bradley_terry_loss_is_stable_and_trainable, "    return -log_win_probability"
     ".mean()", "    return torch.tensor(-log_win_probability.mean().item())", "no .item()"),
    ("dpo_loss", ch10.test_dpo_loss_on_random_log_probabilities, DPO_CHOSEN + "\n" + DPO_REJECTED,
     (DPO_CHOSEN + "\n" + DPO_REJECTED).replace("beta * ", ""), "multiply the log-ratios by beta"),
    ("dpo_loss", ch10.test_dpo_loss_on_random_log_probabilities, DPO_LOSS,
     "    return -beta * F.logsigmoid((chosen_rewards - rejected_rewards) / beta).mean()", "beta goes inside"),
    ("dpo_loss", ch10.test_dpo_loss_on_random_log_probabilities, DPO_LOSS,
     "    return -F.logsigmoid(rejected_rewards - chosen_rewards).mean()", "the sign is flipped"),
    ("dpo_loss", ch10.test_dpo_loss_on_random_log_probabilities, DPO_REJECTED,
     DPO_REJECTED.replace("- reference", "+ reference"), "expected"),
    ("dpo_loss", ch10.test_dpo_loss_on_random_log_probabilities, DPO_LOSS, DPO_LOSS.replace(".mean()", ".sum()"),
     "do not sum"),
    ("contrastive_loss", ch10.test_contrastive_loss_on_random_embeddings, CLIP_NORM,
     "    images, texts = image_embeddings, text_embeddings", "normalise every row"),
    ("contrastive_loss", ch10.test_contrastive_loss_on_random_embeddings, CLIP_LOSS, "    return image_to_text",
     "the loss is symmetric"),
    ("contrastive_loss", ch10.test_contrastive_loss_on_random_embeddings, CLIP_LOGITS,
     CLIP_LOGITS.replace("/ temperature", "* temperature"), "divide the similarities by the temperature"),
    ("contrastive_loss", ch10.test_contrastive_loss_on_random_embeddings, CLIP_LOGITS,
     CLIP_LOGITS.replace(" / temperature", ""), "use the temperature"),
]


@pytest.mark.parametrize(("function", "check", "old", "new", "hint"), MISTAKES,
                         ids=[f"{case[0]}: {case[4]}" for case in MISTAKES])
def test_alignment_and_clip_mistakes_are_named(function: str, check: Callable, old: str, new: str, hint: str) -> None:
    message = failure_message(check, with_changed_line(ch10.REFERENCE, function, old, new))
    assert hint in message, message


def test_reference_added_instead_of_subtracted_is_named() -> None:
    both = (DPO_CHOSEN.replace("- reference", "+ reference") + "\n"
            + DPO_REJECTED.replace("- reference", "+ reference"))
    ex = with_changed_line(ch10.REFERENCE, "dpo_loss", DPO_CHOSEN + "\n" + DPO_REJECTED, both)
    assert "subtract the reference" in failure_message(ch10.test_dpo_loss_on_random_log_probabilities, ex)
