"""Direct preference optimisation (DPO): train a policy on preference pairs without a reward model or an RL loop.

DPO raises the log-probability of each chosen response and lowers that of the rejected one, measured relative to a
frozen reference model (the policy before training), so the policy cannot drift far from it: the implicit reward
of a response is ``beta * (log π(response) − log π_ref(response))``.

Tokenisation — the same as supervised fine-tuning (:func:`zero2hero.alignment.sft.encode_example`): the prompt is
the chat template applied to ``[user prompt]`` with the assistant's generation prompt; the sequence is the template
applied to ``[user prompt, assistant response]``, so a response ends with the template's end of turn (for SmolLM2
``<|im_end|>`` and a newline). Only the response tokens, end of turn included, count in its log-probability.
TRL's ``DPOTrainer`` tokenises a conversational dataset (prompt ``[{"role": "user", ...}]``, chosen and rejected
``[{"role": "assistant", ...}]``) exactly this way, so :func:`trl_dpo_loss` hands it that.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F

from zero2hero.alignment.preferences import PreferencePair
from zero2hero.alignment.response_logits import response_token_logprobs
from zero2hero.alignment.sft import IGNORE_INDEX, collate, encode_example
from zero2hero.errors import InputError
from zero2hero.progress import StepProgress

METHODS = ("lora", "full")
DEFAULT_LEARNING_RATES = {"full": 5e-6, "lora": 5e-5}  # LoRA's few new weights start at zero: they need larger steps
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             reference_chosen_logps: torch.Tensor, reference_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> torch.Tensor:
    """The DPO loss (Rafailov et al., 2023) of a batch of preference pairs.

    Each argument (batch,) is the summed log-probability of the chosen or rejected response (response tokens
    only) under the policy being trained or under the frozen reference model. The implicit reward of a response
    is ``beta * (policy logp - reference logp)``; return the mean over the batch of
    ``-logsigmoid(chosen reward - rejected reward)``, a scalar tensor.
    """
    # 1. The implicit rewards: how much more likely each response became under the policy than the reference.
    chosen_rewards = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected_rewards = beta * (policy_rejected_logps - reference_rejected_logps)
    # 2. Bradley–Terry on the implicit rewards: -log sigmoid(margin), computed stably with logsigmoid.
    return -F.logsigmoid(chosen_rewards - rejected_rewards).mean()


def sequence_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
    """The summed log-probability of the labelled tokens of each sequence, (b,).

    ``input_ids``, ``attention_mask`` and ``labels`` are (b, t); ``labels`` is ``IGNORE_INDEX`` on prompt and
    padding positions. The logits at position i predict token i + 1, so logits and labels are shifted by one.
    ``model`` is a transformers causal LM or a PEFT model (inside ``disable_adapter()``, the model without them).
    """
    # The LM head runs at the response positions only (response_logits.py): the same log-probabilities as taking
    # log_softmax of the full (b, t, vocab) logits, without computing the logits of prompt and padding positions.
    token_logps, rows = response_token_logprobs(model, input_ids, attention_mask, labels)  # (n_kept,) each
    # each token's log-probability added into its sequence's total
    return torch.zeros(input_ids.shape[0], dtype=token_logps.dtype, device=token_logps.device
                       ).index_add(0, rows, token_logps)


def check_same_vocabulary(policy_tokenizer, reference_tokenizer) -> None:
    """Raise :class:`InputError` (one line) unless both tokenizers map the same tokens to the same ids."""
    policy_vocab, reference_vocab = policy_tokenizer.get_vocab(), reference_tokenizer.get_vocab()
    if policy_vocab == reference_vocab:
        return
    hint = "DPO compares the two models token by token: give the reference the policy's tokenizer and base model"
    if len(policy_vocab) != len(reference_vocab):
        raise InputError(f"the policy's vocabulary has {len(policy_vocab):,} tokens but the reference's has "
                         f"{len(reference_vocab):,}", hint)
    policy_tokens = {i: token for token, i in policy_vocab.items()}
    reference_tokens = {i: token for token, i in reference_vocab.items()}
    first = min(i for i in policy_tokens.keys() | reference_tokens.keys()
                if policy_tokens.get(i) != reference_tokens.get(i))
    raise InputError(f"the policy and reference vocabularies differ first at id {first}: "
                     f"{policy_tokens.get(first)!r} vs {reference_tokens.get(first)!r}", hint)


def _check_same_model_vocabulary(policy, reference) -> None:
    sizes = [model.get_input_embeddings().num_embeddings for model in (policy, reference)]
    if sizes[0] != sizes[1]:
        raise InputError(f"the policy's vocabulary has {sizes[0]:,} tokens but the reference's has {sizes[1]:,}",
                         "DPO compares the two models token by token: start both from the same base model")


@dataclass
class DPOConfig:
    """Settings of :func:`train_dpo` (validated on creation: :class:`InputError`).

    ``learning_rate=None`` takes 5e-6 for full fine-tuning (the DPO paper's order of magnitude) and 5e-5 for LoRA
    (rank 8 on the attention projections q, k, v, o), whose new weights start at zero and need larger steps.
    """

    steps: int = 100
    batch_size: int = 8  # pairs per step: 2 × batch_size sequences per forward
    beta: float = 0.1
    learning_rate: float | None = None
    method: str = "lora"
    max_length: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown DPO method {self.method!r}", f"use one of {', '.join(METHODS)}")
        for name in ("steps", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise InputError(f"DPO {name} must be at least 1, not {getattr(self, name)}",
                                 f"pass a positive {name}")
        if not self.beta > 0:
            raise InputError(f"DPO beta must be positive, not {self.beta}", "pass e.g. beta=0.1")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise InputError(f"DPO learning_rate must be positive, not {self.learning_rate}",
                             "pass e.g. 5e-5, or None for the method's default")

    @property
    def lr(self) -> float:
        """The learning rate used: the one given, or the method's default."""
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.method]


def encode_pairs(tokenizer, pairs: Sequence[PreferencePair], max_length: int = 128
                 ) -> list[tuple[dict[str, list[int]], dict[str, list[int]]]]:
    """(chosen, rejected) examples of ``encode_example`` for each pair."""
    return [(encode_example(tokenizer, p.prompt, p.chosen, max_length),
             encode_example(tokenizer, p.prompt, p.rejected, max_length)) for p in pairs]


def pair_batch(encoded: Sequence[tuple[dict, dict]], pad_id: int) -> dict[str, torch.Tensor]:
    """One padded batch of 2 × len(encoded) sequences: all chosen first, then all rejected (TRL's order)."""
    return collate([chosen for chosen, _ in encoded] + [rejected for _, rejected in encoded], pad_id)


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _reference_logps(reference, policy, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference's log-probabilities, (2b,): ``reference``, or the policy with its LoRA adapters off."""
    with torch.no_grad(), (policy.disable_adapter() if reference is None else nullcontext()):
        return sequence_logprobs(policy if reference is None else reference, **batch)


def dpo_step(policy, reference, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
             beta: float) -> float:
    """One optimizer step of :func:`train_dpo` on a :func:`pair_batch` (all chosen, then all rejected); returns the
    loss. ``reference=None`` means ``policy`` (a PEFT model) with its adapters switched off.

    Chosen and rejected sequences go through the policy in one forward (TRL's "concatenated forward"); the
    reference's forward runs without gradients; both apply the LM head at the response positions only.
    """
    chosen_logps, rejected_logps = sequence_logprobs(policy, **batch).chunk(2)
    reference_chosen, reference_rejected = _reference_logps(reference, policy, batch).chunk(2)
    loss = dpo_loss(chosen_logps, rejected_logps, reference_chosen, reference_rejected, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train_dpo(policy, reference, tokenizer, pairs: Sequence[PreferencePair], config: DPOConfig,
              progress: StepProgress | None = None) -> tuple[object, list[float]]:
    """Train ``policy`` with the DPO loss on ``pairs``; return it (eval mode) and the loss of each step.

    ``policy`` is changed in place (a policy that is already a PEFT model has its adapters merged first). With
    ``method="lora"`` it gets PEFT LoRA adapters that are merged into its weights at the end; ``reference=None``
    then means "the policy with its adapters switched off", which is the starting model without a second copy in
    memory. With ``method="full"``, ``reference=None`` takes a frozen copy of the policy before training. A
    reference you pass is frozen and used as is (keep one if you need it after training: merging changes the
    policy's weights).
    """
    if not pairs:
        raise InputError("no preference pairs to train on", "build or label some pairs first")
    if reference is policy:
        reference = None
    if reference is not None:
        _check_same_model_vocabulary(policy, reference)
        reference.eval().requires_grad_(False)
    if hasattr(policy, "merge_and_unload"):  # a PEFT model (e.g. LoRA SFT kept as adapters): merge them first
        policy = policy.merge_and_unload()
    torch.manual_seed(config.seed)
    if config.method == "lora":
        from peft import LoraConfig, get_peft_model

        policy = get_peft_model(policy, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                   target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"))
    elif reference is None:
        reference = copy.deepcopy(policy).eval().requires_grad_(False)
    encoded = encode_pairs(tokenizer, pairs, config.max_length)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=config.lr)
    order_rng, order, losses = random.Random(config.seed), [], []
    policy.train()
    for step in range(config.steps):
        if len(order) < config.batch_size:  # a fresh seeded shuffle once every pair was seen
            fresh = list(range(len(encoded)))
            order_rng.shuffle(fresh)
            order += fresh
        batch = pair_batch([encoded[i] for i in order[:config.batch_size]], _pad_id(tokenizer))
        order = order[config.batch_size:]
        losses.append(dpo_step(policy, reference, batch, optimizer, config.beta))
        if progress is not None:
            progress(step + 1, config.steps, losses[-1])
    if config.method == "lora":
        policy = policy.merge_and_unload()
    return policy.eval(), losses


def reward_margins(policy, reference, tokenizer, pairs: Sequence[PreferencePair], beta: float = 0.1,
                   max_length: int = 128, batch_size: int = 8) -> torch.Tensor:
    """Each pair's implicit reward margin, (n,): ``beta * ((π − π_ref)(chosen) − (π − π_ref)(rejected))`` in logp.

    Positive where the policy moved towards the chosen response more than towards the rejected one.
    """
    encoded = encode_pairs(tokenizer, pairs, max_length)
    policy.eval()
    reference.eval()
    margins = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            batch = pair_batch(encoded[start:start + batch_size], _pad_id(tokenizer))
            policy_chosen, policy_rejected = sequence_logprobs(policy, **batch).chunk(2)
            reference_chosen, reference_rejected = sequence_logprobs(reference, **batch).chunk(2)
            margins.append(beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)))
    return torch.cat(margins)


def chat_prompt(tokenizer, prompt: str) -> str:
    """The chat template's text for one user message, ending with the assistant's generation prompt."""
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


def kl_to_reference(policy, reference, tokenizer, prompts: Sequence[str], max_new_tokens: int = 24,
                    seed: int = 0) -> float:
    """An estimate of KL(π ‖ π_ref) per response: the mean over prompts of Σ_t [log π(y_t) − log π_ref(y_t)].

    Each y is sampled from the policy itself (temperature 1, no top-k/top-p cut, so it is a sample of π), the sum
    runs over its tokens up to and including the end-of-sequence token. This Monte-Carlo estimator (one sample per
    prompt) is unbiased: its expectation is the sequence-level KL, although a single term can be negative. The
    global random state is left as it was.
    """
    if not prompts:
        raise InputError("no prompts to measure the KL on", "pass at least one prompt")
    policy.eval()
    reference.eval()
    total = 0.0
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for prompt in prompts:
            prompt_ids = tokenizer(chat_prompt(tokenizer, prompt), return_tensors="pt",
                                   add_special_tokens=False)["input_ids"]
            output = policy.generate(prompt_ids, attention_mask=torch.ones_like(prompt_ids), do_sample=True,
                                     temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                                     pad_token_id=_pad_id(tokenizer))
            response = output[0, prompt_ids.shape[1]:].tolist()
            if tokenizer.eos_token_id in response:  # keep the sampled eos, drop what generate padded after it
                response = response[:response.index(tokenizer.eos_token_id) + 1]
            input_ids = torch.tensor([prompt_ids[0].tolist() + response])
            labels = input_ids.clone()
            labels[0, :prompt_ids.shape[1]] = IGNORE_INDEX
            mask = torch.ones_like(input_ids)
            total += (sequence_logprobs(policy, input_ids, mask, labels)
                      - sequence_logprobs(reference, input_ids, mask, labels)).item()
    return total / len(prompts)


def win_rate(before: Sequence[str], after: Sequence[str], judge: Callable[[int, str], float]) -> float:
    """The share of prompts whose ``after`` response the judge scores above the ``before`` one; ties count half.

    ``judge(i, response)`` scores a response to prompt ``i`` (a rule such as ``is_correct``, or a reward model).
    """
    if len(before) != len(after) or not before:
        raise InputError(f"{len(before)} responses before but {len(after)} after",
                         "pass one response per prompt on each side, at least one")
    wins = 0.0
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        old_score, new_score = float(judge(i, old)), float(judge(i, new))
        wins += 1.0 if new_score > old_score else 0.5 if new_score == old_score else 0.0
    return wins / len(before)


def trl_dpo_loss(policy, reference, tokenizer, pairs: Sequence[PreferencePair], beta: float = 0.1,
                 max_length: int = 128) -> float:
    """TRL ``DPOTrainer``'s loss (``loss_type=["sigmoid"]``) on one batch holding all of ``pairs``, from its loader.

    The dataset is conversational (see the module doc), so TRL reads the same tokens as :func:`encode_pairs`. TRL
    patches the forward of the models it is given, so it gets copies: ``policy`` and ``reference`` are left as they
    are. Computed in eval mode, without gradients.
    """
    from datasets import Dataset
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    # Conversational rows: TRL lays them out with the chat template as encode_example does (the prompt with the
    # generation prompt; prompt + response ending in the end of turn), and takes the response tokens as completion.
    rows = [{"prompt": [{"role": "user", "content": p.prompt}],
             "chosen": [{"role": "assistant", "content": p.chosen}],
             "rejected": [{"role": "assistant", "content": p.rejected}]} for p in pairs]
    with TemporaryDirectory() as output_dir:
        args = TRLDPOConfig(output_dir=output_dir, per_device_train_batch_size=len(pairs), beta=beta,
                            loss_type=["sigmoid"], max_length=max_length, bf16=False, gradient_checkpointing=False,
                            use_cpu=True, report_to=[], seed=0, disable_dropout=False)
        trainer = DPOTrainer(model=copy.deepcopy(policy), ref_model=copy.deepcopy(reference), args=args,
                             train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        trainer.model.eval()
        with torch.no_grad():
            return trainer.compute_loss(trainer.model, batch).item()
