"""A reward model: a scalar head on an encoder, trained on preference pairs with the Bradley–Terry loss.

The model reads a prompt and a response and returns one number, the reward. Trained so that the chosen response of
each pair scores above the rejected one, it stands in for a human judge (the RLHF pipeline's second stage).

How a (prompt, response) becomes tokens — :func:`encode_for_reward`, shared by training, scoring and the TRL check:

- a tokenizer with a chat template (a causal LM under a sequence-classification head): the conversation
  ``[user: prompt, assistant: response]`` through the template — exactly what TRL's ``RewardTrainer`` does with a
  conversational dataset;
- a BERT tokenizer (MiniLM: no chat template, no end-of-sequence token): the sentence pair
  ``[CLS] prompt [SEP] response [SEP]``. TRL's text path would append ``eos_token`` (``None`` for BERT) and
  tokenise ``prompt + response`` as one string, so for MiniLM TRL gets these same ids as a tokenised dataset.
  No ``token_type_ids`` are passed (TRL's collator passes none either): the ``[SEP]`` marks the boundary.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F

from zero2hero.alignment.preferences import PreferencePair
from zero2hero.errors import InputError
from zero2hero.progress import StepProgress


def bradley_terry_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """The Bradley–Terry loss of a reward model on a batch of preference pairs.

    ``chosen_rewards`` and ``rejected_rewards`` (batch,) are the scalar rewards the model gives the preferred and
    the rejected response of each pair. Under the Bradley–Terry model the probability that the chosen response
    wins is ``sigmoid(chosen - rejected)``; return the mean over the batch of its negative log, a scalar tensor.
    Compute it stably: ``-logsigmoid(chosen - rejected)``, not ``-log(sigmoid(...))``.
    """
    # 1. How much more the model rewards the chosen response than the rejected one, per pair: (batch,).
    margin = chosen_rewards - rejected_rewards
    # 2. log P(chosen wins) = log sigmoid(margin); logsigmoid stays finite where sigmoid would round to 0 or 1.
    log_win_probability = F.logsigmoid(margin)
    # 3. The loss is the negative log-likelihood of the observed preferences, averaged over the batch.
    return -log_win_probability.mean()


@dataclass
class RewardConfig:
    """Settings of :func:`train_reward_model` (validated on creation: :class:`InputError`)."""

    steps: int = 200
    batch_size: int = 16  # pairs per step: 2 × batch_size sequences in one forward
    learning_rate: float = 5e-5
    max_length: int = 128  # tokens per (prompt, response)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise InputError(f"reward {name} must be at least 1, not {getattr(self, name)}",
                                 f"pass a positive {name}")
        if not self.learning_rate > 0:
            raise InputError(f"reward learning_rate must be positive, not {self.learning_rate}",
                             "pass e.g. 5e-5")


def load_reward_model(name_or_path: str = "minilm"):
    """A sequence-classification model with one output (the reward) and its tokenizer, fp32, eval mode.

    MiniLM ships as a bare encoder: the scalar head is new (random, seeded by the caller's ``torch.manual_seed``).
    ``new_head_loading`` keeps transformers from printing its "newly initialised weights" report on every load.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from zero2hero.assets import new_head_loading, resolve_model_path

    source = resolve_model_path(name_or_path)
    with new_head_loading():
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # A causal LM's head scores the last token that is not padding: it must know which id pads.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def encode_for_reward(tokenizer, prompt: str, response: str, max_length: int = 128) -> list[int]:
    """The token ids the reward model reads for one (prompt, response) (see the module doc for the two layouts)."""
    if tokenizer.chat_template:
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        return list(ids)[-max_length:]  # keep the end: the head reads the last token
    return tokenizer(prompt, response, truncation=True, max_length=max_length)["input_ids"]


def _right_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask``, each (n, longest)."""
    longest = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, :len(ids)] = 1
    return input_ids, attention_mask


def _rewards(model, tokenizer, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """The model's scalar output for each sequence, (n,), with gradients if enabled."""
    input_ids, attention_mask = _right_pad(sequences, tokenizer.pad_token_id)
    return model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits.squeeze(-1)


def reward_scores(model, tokenizer, prompts: list[str], responses: list[str], batch_size: int = 16,
                  max_length: int = 128) -> torch.Tensor:
    """The reward of each (prompt, response), (n,) float, computed in eval mode without gradients."""
    if len(prompts) != len(responses):
        raise InputError(f"{len(prompts)} prompts but {len(responses)} responses", "pass one response per prompt")
    sequences = [encode_for_reward(tokenizer, p, r, max_length) for p, r in zip(prompts, responses, strict=True)]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        scores = [_rewards(model, tokenizer, sequences[start:start + batch_size])
                  for start in range(0, len(sequences), batch_size)]
    model.train(was_training)
    return torch.cat(scores) if scores else torch.zeros(0)


def pair_loss(model, tokenizer, pairs: Sequence[PreferencePair], max_length: int = 128) -> torch.Tensor:
    """The Bradley–Terry loss of ``pairs``: chosen and rejected responses scored in one forward pass."""
    chosen = [encode_for_reward(tokenizer, p.prompt, p.chosen, max_length) for p in pairs]
    rejected = [encode_for_reward(tokenizer, p.prompt, p.rejected, max_length) for p in pairs]
    rewards = _rewards(model, tokenizer, chosen + rejected)  # (2 × batch,): chosen first, then rejected
    chosen_rewards, rejected_rewards = rewards.chunk(2)
    return bradley_terry_loss(chosen_rewards, rejected_rewards)


def train_reward_model(model, tokenizer, pairs: Sequence[PreferencePair], config: RewardConfig,
                       progress: StepProgress | None = None) -> tuple[object, list[float]]:
    """Train ``model`` in place on ``pairs`` for ``config.steps`` AdamW steps; return it (eval mode) and the losses.

    Each step takes the next ``batch_size`` pairs of a seeded shuffle (reshuffled once all were seen).
    """
    if not pairs:
        raise InputError("no preference pairs to train the reward model on", "build or label some pairs first")
    torch.manual_seed(config.seed)
    order_rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    model.train()
    order: list[int] = []
    losses: list[float] = []
    for step in range(config.steps):
        if len(order) < config.batch_size:
            fresh = list(range(len(pairs)))
            order_rng.shuffle(fresh)
            order += fresh
        batch, order = [pairs[i] for i in order[:config.batch_size]], order[config.batch_size:]
        loss = pair_loss(model, tokenizer, batch, config.max_length)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step + 1, config.steps, losses[-1])
    return model.eval(), losses


def pair_accuracy(model, tokenizer, pairs: Sequence[PreferencePair], max_length: int = 128) -> float:
    """The share of ``pairs`` whose chosen response gets a strictly higher reward than the rejected one."""
    if not pairs:
        raise InputError("no preference pairs to measure accuracy on", "pass at least one pair")
    prompts = [p.prompt for p in pairs]
    chosen = reward_scores(model, tokenizer, prompts, [p.chosen for p in pairs], max_length=max_length)
    rejected = reward_scores(model, tokenizer, prompts, [p.rejected for p in pairs], max_length=max_length)
    return (chosen > rejected).float().mean().item()


def trl_reward_loss(model, tokenizer, pairs: Sequence[PreferencePair], max_length: int = 128) -> float:
    """TRL ``RewardTrainer``'s loss on one batch holding all of ``pairs``, taken from its own data loader.

    A tokenizer with a chat template gets a conversational dataset (TRL tokenises it); a BERT tokenizer gets the
    ids of :func:`encode_for_reward` as ``chosen_ids``/``rejected_ids`` (see the module doc). The loss is computed
    in eval mode (no dropout; ``disable_dropout=False`` so TRL leaves the model's modules as they are) with
    ``center_rewards_coefficient=None``: no centering term is added, so it is the plain Bradley–Terry loss. Pairs
    longer than ``max_length`` are dropped by TRL (ours truncates).
    """
    from datasets import Dataset
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    if tokenizer.chat_template:
        rows = [{"chosen": [{"role": "user", "content": p.prompt}, {"role": "assistant", "content": p.chosen}],
                 "rejected": [{"role": "user", "content": p.prompt}, {"role": "assistant", "content": p.rejected}]}
                for p in pairs]
    else:
        rows = [{"chosen_ids": encode_for_reward(tokenizer, p.prompt, p.chosen, max_length),
                 "rejected_ids": encode_for_reward(tokenizer, p.prompt, p.rejected, max_length)} for p in pairs]
    with TemporaryDirectory() as output_dir:
        args = TRLRewardConfig(output_dir=output_dir, per_device_train_batch_size=len(pairs),
                               max_length=max_length, center_rewards_coefficient=None, bf16=False,
                               gradient_checkpointing=False, use_cpu=True, report_to=[], seed=0,
                               disable_dropout=False)
        trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                processing_class=tokenizer)
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        model.eval()
        with torch.no_grad():
            return trainer.compute_loss(model, batch).item()
