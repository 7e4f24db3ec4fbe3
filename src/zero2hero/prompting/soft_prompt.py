"""Soft prompt tuning: improving a frozen model's answers by training only a few input vectors (Lester et al. 2021).

A soft prompt is ``k`` *virtual tokens*: a (k, hidden) matrix of trainable vectors placed in front of the embedded
prompt, fed to the model through ``inputs_embeds``. The model's own weights never change (``requires_grad`` is off
and they stay bit-equal); gradient descent moves only the k × hidden numbers, so that the label word the task
expects becomes more likely at the answer position.

Where the virtual tokens go: before everything — before the chat template's first ``<|im_start|>`` (and before BOS
for a model whose template has one), exactly where PEFT's ``PromptTuningConfig`` puts them, so the same matrix gives
the same logits in both (:func:`copy_into_peft`). The positions of the real tokens are therefore shifted by k.

Written from scratch here (:class:`SoftPrompt`, :func:`soft_prompt_logits`, :func:`train_soft_prompt`); the tests
show it equals PEFT's prompt tuning: same logits for the same embeddings, same losses for the same training run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn
from tqdm.auto import tqdm

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_bytes
from zero2hero.prompting.promptset import Item, PromptSet, Shot
from zero2hero.prompting.render import prompt_ids, prompt_messages
from zero2hero.prompting.stats import PairedComparison, compare_paired

IGNORE = -100  # the target of a position that is not part of the answer (cross_entropy's ignore_index)


@dataclass(frozen=True)
class SoftPromptConfig:
    """How a soft prompt is trained: ``num_virtual_tokens`` vectors, ``steps`` AdamW steps of ``batch_size``
    examples, the dev accuracy measured every ``eval_every`` steps (the best one is kept). No weight decay by
    default: decay would pull the virtual tokens towards zero, away from the scale of real token embeddings."""

    num_virtual_tokens: int = 8
    steps: int = 60
    batch_size: int = 8
    lr: float = 1e-2
    weight_decay: float = 0.0
    eval_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("num_virtual_tokens", "steps", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}", f"give a positive {name}")
        if not (0 < self.lr < 1):
            raise InputError(f"lr must be in (0, 1), got {self.lr}", "try 1e-2")


QUICK = SoftPromptConfig(num_virtual_tokens=4, steps=4, batch_size=2, eval_every=2)  # seconds, for tests and tours
FULL = SoftPromptConfig()  # SmolLM2-135M on fine-food reviews: the loss settles within ~20 steps, dev chooses the step


class SoftPrompt(nn.Module):
    """k trainable virtual-token embeddings, prepended to the embedded input of a frozen causal LM."""

    def __init__(self, embeddings: torch.Tensor) -> None:
        """``embeddings``: (k, hidden), copied into a float32 Parameter."""
        super().__init__()
        if embeddings.dim() != 2 or embeddings.shape[0] == 0:
            raise InputError(f"a soft prompt is a (k, hidden) matrix with k ≥ 1, got shape {tuple(embeddings.shape)}",
                             "pass a 2-D tensor, one row per virtual token")
        self.embeddings = nn.Parameter(embeddings.detach().clone().float())

    @property
    def num_virtual_tokens(self) -> int:
        return self.embeddings.shape[0]

    @classmethod
    def from_text(cls, model, tokenizer, text: str, num_virtual_tokens: int) -> SoftPrompt:
        """Start from the embeddings of ``text``'s tokens (e.g. the task instruction), cut or repeated to k rows.

        The same rule as PEFT's ``PromptTuningInit.TEXT``: ``tokenizer(text)``, truncated to k ids, or repeated
        until there are k; a soft prompt that starts as meaningful words trains faster than random vectors.
        """
        ids = tokenizer(text)["input_ids"]
        if not ids:
            raise InputError("the soft prompt's initial text has no tokens", "give a non-empty instruction text")
        ids = (ids * math.ceil(num_virtual_tokens / len(ids)))[:num_virtual_tokens]
        with torch.no_grad():
            return cls(model.get_input_embeddings()(torch.tensor(ids)))

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepend the virtual tokens: (b, T, hidden) and (b, T) -> (b, k+T, hidden) and (b, k+T)."""
        batch = inputs_embeds.shape[0]
        prompt = self.embeddings.to(inputs_embeds.dtype).unsqueeze(0).expand(batch, -1, -1)
        ones = attention_mask.new_ones(batch, self.num_virtual_tokens)
        return torch.cat([prompt, inputs_embeds], dim=1), torch.cat([ones, attention_mask], dim=1)


def soft_prompt_logits(model, soft_prompt: SoftPrompt | None, input_ids: torch.Tensor,
                       attention_mask: torch.Tensor) -> torch.Tensor:
    """The LM's logits with the soft prompt in front: (b, T) ids -> (b, k+T, vocab) (k = 0 without a soft prompt).

    Like PEFT, no position ids are passed: the model numbers the k + T positions 0, 1, ... itself.
    """
    embeds = model.get_input_embeddings()(input_ids)
    if soft_prompt is not None:
        embeds, attention_mask = soft_prompt(embeds, attention_mask)
    return model(inputs_embeds=embeds, attention_mask=attention_mask).logits


# ---- examples, batches, loss -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelExample:
    """One prompt (its token ids, chat template applied, ending where the answer starts) and its gold label."""

    prompt_ids: list[int]
    label: int  # index into the label words' token ids


@dataclass(frozen=True)
class Batch:
    """Prompts followed by a label's tokens, right-padded. ``targets`` holds the label's ids at the label's
    positions and IGNORE elsewhere (the same layout as transformers' ``labels``): all (b, T)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor


def collate(examples: Sequence[LabelExample], label_ids: Sequence[Sequence[int]], pad_id: int,
            labels: Sequence[int] | None = None) -> Batch:
    """Each prompt followed by the tokens of its gold label (or of ``labels[i]`` when given), right-padded.

    Right padding keeps every real token at the position it has alone: a causal LM never looks ahead, and the
    positions are numbered from the start.
    """
    chosen = labels if labels is not None else [e.label for e in examples]
    rows = [list(e.prompt_ids) + list(label_ids[c]) for e, c in zip(examples, chosen, strict=True)]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (example, row) in enumerate(zip(examples, rows, strict=True)):
        input_ids[i, :len(row)] = torch.tensor(row)
        attention_mask[i, :len(row)] = 1
        targets[i, len(example.prompt_ids):len(row)] = input_ids[i, len(example.prompt_ids):len(row)]
    return Batch(input_ids, attention_mask, targets)


def _text_log_probs(model, soft_prompt: SoftPrompt | None, batch: Batch) -> torch.Tensor:
    """(b, T, vocab) log-probabilities of the next token after each real position (the virtual ones dropped)."""
    logits = soft_prompt_logits(model, soft_prompt, batch.input_ids, batch.attention_mask)
    k = soft_prompt.num_virtual_tokens if soft_prompt is not None else 0
    return torch.log_softmax(logits[:, k:].float(), dim=-1)


def soft_prompt_loss(model, soft_prompt: SoftPrompt | None, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy of the label tokens, each predicted from what precedes it (the soft prompt included):
    the loss transformers computes from ``labels=batch.targets``."""
    logits = soft_prompt_logits(model, soft_prompt, batch.input_ids, batch.attention_mask)
    k = soft_prompt.num_virtual_tokens if soft_prompt is not None else 0
    text_logits = logits[:, k:-1].float()  # position t predicts token t+1
    return nn.functional.cross_entropy(text_logits.reshape(-1, text_logits.shape[-1]),
                                       batch.targets[:, 1:].reshape(-1), ignore_index=IGNORE)


@torch.no_grad()
def label_scores(model, soft_prompt: SoftPrompt | None, examples: Sequence[LabelExample],
                 label_ids: Sequence[Sequence[int]], pad_id: int, batch_size: int = 8) -> torch.Tensor:
    """(n, n_labels): the total log-probability of each label's tokens after each prompt.

    When every label is one token, one forward pass per prompt reads them all at the answer position; otherwise
    each label's tokens are teacher-forced in a pass of their own.
    """
    rows = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        if all(len(ids) == 1 for ids in label_ids):
            batch = collate(chunk, [[]], pad_id, labels=[0] * len(chunk))  # the prompts alone
            log_probs = _text_log_probs(model, soft_prompt, batch)  # (b, T, vocab)
            last = torch.tensor([len(e.prompt_ids) - 1 for e in chunk])  # predicts the answer's first token
            rows.append(log_probs[torch.arange(len(chunk)), last][:, [ids[0] for ids in label_ids]])
            continue
        per_label = []
        for label in range(len(label_ids)):
            batch = collate(chunk, label_ids, pad_id, labels=[label] * len(chunk))
            log_probs = _text_log_probs(model, soft_prompt, batch)[:, :-1]  # position t predicts token t+1
            targets = batch.targets[:, 1:]
            picked = log_probs.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            per_label.append((picked * (targets != IGNORE)).sum(dim=1))
        rows.append(torch.stack(per_label, dim=1))
    return torch.cat(rows)


def accuracy(scores: torch.Tensor, examples: Sequence[LabelExample]) -> float:
    """Share of examples whose highest-scoring label is the gold one."""
    gold = torch.tensor([e.label for e in examples])
    return (scores.argmax(dim=1) == gold).float().mean().item()


# ---- training ----------------------------------------------------------------------------------------------------

@dataclass
class SoftPromptHistory:
    """What a training run measured: the loss of every step, the dev accuracy every ``eval_every`` steps (step 0 is
    the initial soft prompt), the step kept (best dev accuracy, earliest on ties), the time of one training step
    (forward, backward, update) and the total time, dev evaluations included."""

    losses: list[float] = field(default_factory=list)
    dev_steps: list[int] = field(default_factory=list)
    dev_accuracy: list[float] = field(default_factory=list)
    best_step: int = 0
    seconds_per_step: float = 0.0
    total_s: float = 0.0


def training_batches(n_examples: int, batch_size: int, steps: int, seed: int = 0) -> list[list[int]]:
    """The example indices of each step: shuffled epochs (a new permutation per epoch), cut into batches."""
    if n_examples < batch_size:
        raise InputError(f"{n_examples} training examples are fewer than one batch of {batch_size}",
                         "give more examples or a smaller batch_size")
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while len(order) < steps * batch_size:
        order += torch.randperm(n_examples, generator=generator).tolist()[:n_examples - n_examples % batch_size]
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def freeze(model) -> None:
    """Turn off every weight's gradient: the model stays as it is; only the soft prompt learns."""
    model.requires_grad_(False)
    model.eval()  # no dropout: the same input gives the same logits


def train_soft_prompt(model, soft_prompt: SoftPrompt, train: Sequence[LabelExample], dev: Sequence[LabelExample],
                      label_ids: Sequence[Sequence[int]], pad_id: int,
                      config: SoftPromptConfig = FULL, progress: bool = True) -> tuple[SoftPrompt, SoftPromptHistory]:
    """Train ``soft_prompt`` (in place) in front of the frozen ``model``; return the dev-best copy and the history.

    Each step: a batch of ``config.batch_size`` training prompts with their gold label's tokens, the loss of
    :func:`soft_prompt_loss`, an AdamW step on the k × hidden matrix alone.
    """
    freeze(model)
    optimizer = torch.optim.AdamW(soft_prompt.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history = SoftPromptHistory()
    best = soft_prompt.embeddings.detach().clone()

    def evaluate(step: int) -> None:
        nonlocal best
        history.dev_steps.append(step)
        history.dev_accuracy.append(accuracy(label_scores(model, soft_prompt, dev, label_ids, pad_id), dev))
        if history.dev_accuracy[-1] > max(history.dev_accuracy[:-1], default=-1.0):
            history.best_step, best = step, soft_prompt.embeddings.detach().clone()

    start = time.perf_counter()
    evaluate(0)
    training_s = 0.0
    bar = tqdm(training_batches(len(train), config.batch_size, config.steps, config.seed), desc="soft prompt",
               unit="step", disable=not progress)
    for step, indices in enumerate(bar, start=1):
        step_start = time.perf_counter()
        loss = soft_prompt_loss(model, soft_prompt, collate([train[i] for i in indices], label_ids, pad_id))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        training_s += time.perf_counter() - step_start
        history.losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % config.eval_every == 0 or step == config.steps:
            evaluate(step)
    history.seconds_per_step = training_s / config.steps
    history.total_s = time.perf_counter() - start
    return SoftPrompt(best), history


# ---- saving, and PEFT ---------------------------------------------------------------------------------------------

def save_soft_prompt(soft_prompt: SoftPrompt, path: str | Path) -> None:
    """Write the (k, hidden) matrix as a safetensors file, atomically."""
    data = save_safetensors({"embeddings": soft_prompt.embeddings.detach().cpu().contiguous()})
    atomic_write_bytes(Path(path), data)


def load_soft_prompt(path: str | Path) -> SoftPrompt:
    """Read a soft prompt written by :func:`save_soft_prompt`."""
    path = Path(path)
    try:
        tensors = load_safetensors(path.read_bytes())
    except FileNotFoundError as error:
        raise InputError(f"no soft prompt at {path}", "train one first, or check the path") from error
    except (SafetensorError, OSError) as error:
        raise InputError(f"{path} is not a safetensors file: {error}",
                         "train and save the soft prompt again") from error
    if "embeddings" not in tensors:
        raise InputError(f"{path} holds no 'embeddings' tensor", "save it with save_soft_prompt")
    return SoftPrompt(tensors["embeddings"])


def peft_prompt_tuning(model, num_virtual_tokens: int):
    """The same idea with PEFT: ``model`` wrapped for prompt tuning with k virtual tokens (weights frozen)."""
    from peft import PromptTuningConfig, TaskType, get_peft_model

    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=num_virtual_tokens)
    return get_peft_model(model, config)


def copy_into_peft(soft_prompt: SoftPrompt, peft_model, adapter: str = "default") -> None:
    """Put our (k, hidden) matrix where PEFT keeps its virtual tokens: ``prompt_encoder[adapter].embedding.weight``,
    an ``nn.Embedding`` looked up with the ids 0..k-1 and prepended to the embedded input."""
    weight = peft_model.prompt_encoder[adapter].embedding.weight
    if weight.shape != soft_prompt.embeddings.shape:
        raise InputError(f"the PEFT model has {tuple(weight.shape)} virtual-token embeddings, the soft prompt "
                         f"{tuple(soft_prompt.embeddings.shape)}", "build it with the same num_virtual_tokens")
    with torch.no_grad():
        weight.copy_(soft_prompt.embeddings)



# ---- a label prompt set as training data, and the measured experiment -------------------------------------------

def label_word_ids(ps: PromptSet, tokenizer) -> list[list[int]]:
    """The token ids of each label's word, as the assistant's answer starts (no leading space), in label order."""
    if ps.kind != "label":
        raise InputError(f"soft prompt tuning needs a prompt set of kind label, {ps.name!r} is {ps.kind}",
                         "choose a classification set such as sentiment")
    return [tokenizer.encode(ps.label_words.get(label, label), add_special_tokens=False) for label in ps.labels]


def label_examples(ps: PromptSet, tokenizer, entries: Sequence[Item | Shot],
                   max_chars: int = 300) -> list[LabelExample]:
    """Items (gold = ``reference``) or pool shots (gold = ``answer``) as 0-shot prompts in the set's default template,
    each variable's value cut to ``max_chars`` characters (short sequences keep CPU training affordable)."""
    examples = []
    for entry in entries:
        gold = entry.answer if isinstance(entry, Shot) else entry.reference
        item = Item("", {name: value[:max_chars] for name, value in entry.variables.items()}, gold)
        examples.append(LabelExample(prompt_ids(tokenizer, prompt_messages(ps, item)), ps.labels.index(gold)))
    return examples


@dataclass
class SoftPromptExperiment:
    """Soft prompt tuning against 0-shot label scoring on the same test items: the lr chosen on dev, each lr's
    training history, and per-item correctness (1/0) on test for both, compared paired."""

    chosen_lr: float
    histories: dict[float, SoftPromptHistory]
    zero_shot: list[float]
    soft_prompt_correct: list[float]
    comparison: PairedComparison
    soft_prompt: SoftPrompt


def soft_prompt_experiment(model, tokenizer, train: PromptSet, dev: Sequence[Item], test: Sequence[Item],
                           config: SoftPromptConfig = FULL, lrs: Sequence[float] = (),
                           max_chars: int = 300, progress: bool = True) -> SoftPromptExperiment:
    """Train a soft prompt on ``train.pool`` once per learning rate (``lrs``; default: ``config.lr`` alone), keep the
    lr and step with the best dev accuracy (earliest on ties), then score the test items with it and with no soft
    prompt (0-shot label scoring).

    The soft prompt starts from the tokens of the set's system prompt (or its description).
    """
    lrs = tuple(lrs) or (config.lr,)
    label_ids = label_word_ids(train, tokenizer)
    pad_id = tokenizer.pad_token_id
    train_examples = label_examples(train, tokenizer, train.pool, max_chars)
    dev_examples = label_examples(train, tokenizer, dev, max_chars)
    test_examples = label_examples(train, tokenizer, test, max_chars)
    init_text = train.system or train.description
    histories, prompts = {}, {}
    for lr in lrs:
        start = SoftPrompt.from_text(model, tokenizer, init_text, config.num_virtual_tokens)
        prompts[lr], histories[lr] = train_soft_prompt(model, start, train_examples, dev_examples, label_ids, pad_id,
                                                       replace(config, lr=lr), progress)
    chosen = max(lrs, key=lambda lr: max(histories[lr].dev_accuracy))  # first of the best on ties

    def correct(soft_prompt: SoftPrompt | None) -> list[float]:
        scores = label_scores(model, soft_prompt, test_examples, label_ids, pad_id)
        return [float(s.argmax().item() == e.label) for s, e in zip(scores, test_examples, strict=True)]

    zero_shot, tuned = correct(None), correct(prompts[chosen])
    return SoftPromptExperiment(chosen, histories, zero_shot, tuned, compare_paired(zero_shot, tuned),
                                prompts[chosen])
