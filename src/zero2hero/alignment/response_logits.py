"""The LM head applied only where the loss looks: the logits of the response tokens, not of every position.

A causal LM is a decoder (embeddings and transformer blocks) that turns ``input_ids`` (batch, t) into hidden states
(batch, t, d), then an LM head, one matrix (vocab, d), that turns every hidden state into logits (batch, t, vocab).
SFT and DPO score only the response tokens: the prompt and the padding carry ``IGNORE_INDEX`` labels, and
:func:`zero2hero.alignment.sft.sft_loss` throws their logits away after computing them.

For a small model with a big vocabulary that waste dominates. SmolLM2-135M has d = 576 and vocab = 49,152: its head
holds 28 M weights, and applied at a position it costs 576 × 49,152 ≈ 28 M multiply-adds, about a fifth of the whole
model's per-token work; its backward costs twice that again, and the (batch, t, vocab) logits, their softmax and
their gradient are the largest tensors of a training step. In an instruction batch most positions are prompt or
padding (over 90 % of them in a batch of short answers), so applying the head only at the response positions removes
most of that cost.

The numbers are the same: row by row, the head is the same matrix product whether it is applied to every position
or to a few. TRL's trainers avoid the full logits too (``trl.trainer.utils.add_fused_lm_head``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from zero2hero.alignment.sft import IGNORE_INDEX
from zero2hero.errors import InputError

# Config fields of the few model families whose logits are not just ``head(hidden)`` (e.g. Gemma 2 caps them)
LOGIT_CHANGING_FIELDS = ("final_logit_softcapping", "logit_scale")


def response_logits(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The logits that predict each labelled token, its label and its row: ``(logits, targets, rows)``.

    ``model`` is a transformers causal LM, or one wrapped by PEFT (its adapters apply, and ``disable_adapter()``
    switches them off as usual). ``input_ids``, ``attention_mask`` and ``labels`` are (batch, t); ``labels`` holds
    ``IGNORE_INDEX`` on the positions not to score. The logits at position i predict the token at i + 1, so a
    position i is kept when ``labels[:, i + 1]`` is not ``IGNORE_INDEX``. Returns ``logits`` (n_kept, vocab),
    ``targets`` (n_kept,) the labels they predict and ``rows`` (n_kept,) the batch row each comes from, in row-major
    order (row 0's tokens left to right, then row 1's, ...).
    """
    # 1. The transformers model that holds the decoder and the head. PEFT wraps it, but its LoRA layers sit inside
    #    it (PEFT replaces q_proj etc. in place), so calling its decoder still runs the adapters.
    causal_lm = _unwrap(model)
    config = causal_lm.config
    changed = [field for field in LOGIT_CHANGING_FIELDS if getattr(config, field, None) not in (None, 1.0)]
    if changed:
        raise InputError(f"this model changes its logits after the LM head ({', '.join(changed)})",
                         "use a model whose logits are the head's output, such as smollm2")
    # 2. The decoder alone: the last hidden states (batch, t, d), after the final norm, and no logits yet.
    hidden = causal_lm.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                     use_cache=False).last_hidden_state
    # 3. Shift by one as the loss does: position i predicts label i + 1; keep the positions with a real label.
    targets = labels[:, 1:]  # (batch, t - 1)
    kept = targets != IGNORE_INDEX  # (batch, t - 1), True on the response tokens
    kept_hidden = hidden[:, :-1][kept]  # (n_kept, d): boolean indexing gathers the kept rows, in row-major order
    # 4. The head on those rows only: (n_kept, d) @ (d, vocab). Its backward, too, touches only these rows.
    logits = causal_lm.get_output_embeddings()(kept_hidden)  # (n_kept, vocab)
    rows = torch.arange(targets.shape[0], device=targets.device).unsqueeze(1).expand_as(targets)[kept]  # (n_kept,)
    return logits, targets[kept], rows


def response_token_logprobs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                            labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The log-probability of each labelled token and its row: ``(token_logps (n_kept,), rows (n_kept,))``.

    Arguments as :func:`response_logits`. Summing ``token_logps`` per row gives each sequence's log-probability
    (:func:`zero2hero.alignment.dpo.sequence_logprobs`).
    """
    logits, targets, rows = response_logits(model, input_ids, attention_mask, labels)
    # cross-entropy is -log softmax(logits)[target], one fused, numerically stable kernel; in float32 like the loss
    return -F.cross_entropy(logits.float(), targets, reduction="none"), rows


def response_loss(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  labels: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy over the labelled tokens, a scalar tensor: :func:`zero2hero.alignment.sft.sft_loss` of
    the model's logits, computed without the (batch, t, vocab) logits. Arguments as :func:`response_logits`."""
    if not bool((labels[:, 1:] != IGNORE_INDEX).any()):
        raise InputError("this batch has no response token to learn from", "check the prompt lengths and max_length")
    logits, targets, _ = response_logits(model, input_ids, attention_mask, labels)
    return F.cross_entropy(logits.float(), targets)


def _unwrap(model: Any) -> Any:
    """The transformers model inside a PEFT wrapper (LoRA layers included), or ``model`` itself."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model
