# %% [markdown]
# # Chapter 8 — Prompting: steering a model that is not retrained
# A chat model answers what it reads, and what it reads is more than the question: a system prompt, the roles of
# the conversation, worked examples, an instruction to reason step by step. This notebook walks the chapter on a
# small scale, with SmolLM2-135M-Instruct: what the model really reads (the chat template), how the start of the
# context steers the answer, a prompt set of fine-food reviews scored two ways with honest error bars, few-shot
# examples chosen two ways, chain-of-thought and self-consistency on arithmetic, a soft prompt trained in front of the
# frozen model, and the cache that makes a shared prompt prefix cheap. The lab (`z2h lab 8`) measures all of it at
# full size.
#
# Everything runs on the CPU in a couple of minutes. The review counts are kept small so that it does; the point of
# section 3 is what such small counts can and cannot tell.

# %%
import copy
from dataclasses import replace

import torch

from zero2hero.prompting.engines import load_engine
from zero2hero.prompting.fewshot import FixedShots, ShotSelector, orderings
from zero2hero.prompting.harness import Condition, ConditionResult, run_condition
from zero2hero.prompting.promptset import load_prompt_set
from zero2hero.prompting.render import prompt_ids, prompt_messages
from zero2hero.prompting.scoring import score_output
from zero2hero.prompting.soft_prompt import (
    QUICK,
    SoftPrompt,
    copy_into_peft,
    label_examples,
    label_word_ids,
    peft_prompt_tuning,
    soft_prompt_logits,
    train_soft_prompt,
)
from zero2hero.prompting.stats import compare_paired

engine = load_engine("hf")  # SmolLM2-135M-Instruct through transformers, with its tokenizer
tokenizer = engine.tokenizer
print(f"{engine.name} engine, context of {engine.context_length:,} tokens, {torch.get_num_threads()} thread(s)")

# %% [markdown]
# ## 1. The chat template: what the model really reads
# A chat model was fine-tuned on conversations laid out in one exact text format. Its tokenizer carries that format
# as a *chat template*: a list of messages (each a role, `system`, `user` or `assistant`, and its text) becomes one
# string with special tokens around each message. `add_generation_prompt=True` ends the string with the header of
# the assistant's turn, so the next token the model writes is the start of its reply. Note the system message that
# appears although we gave none: SmolLM2's template inserts a default one.

# %%
question = "Why is the sky blue?"
print(tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                    add_generation_prompt=True))

# %% [markdown]
# Now the same question asked several ways, each decoded greedily (the most likely token every time, so any
# difference comes from the prompt alone): in the template with the default system prompt; in the template with a
# system prompt that gives a role and a format; and as raw text with no template at all. Without the template the
# model sees no question and no turn to take, only a text to continue, as a base model would: after a complete
# question it may see nothing to add and stop at once (an empty reply), while the start of a sentence gets continued.
# At 135M parameters the system prompt steers the *form* (the language, the length) much more reliably than the
# facts: read the French answer for what it says.

# %%
system = "You are a French teacher. You always reply in French, in one or two short sentences."


def reply(ids: list[int], max_new_tokens: int = 48) -> str:
    return tokenizer.decode(engine.generate(ids, max_new_tokens), skip_special_tokens=True).strip()


asked = {
    "default system prompt": prompt_ids(tokenizer, [{"role": "user", "content": question}]),
    "role and format": prompt_ids(tokenizer, [{"role": "system", "content": system},
                                              {"role": "user", "content": question}]),
    "raw question, no template": tokenizer.encode(question),
    "raw sentence start, no template": tokenizer.encode("The sky is blue because"),
}
for name, ids in asked.items():
    print(f"--- {name} ({len(ids)} prompt tokens)\n{reply(ids)!r}")

# %% [markdown]
# ## 2. A prompt set
# Comparing prompts needs many items with known answers. A *prompt set* bundles them: items (here reviews from
# chapter 5, each with its gold label, `great` for a 5-star review and `other` for the rest), templates that turn an
# item into a user message, a system prompt, the words the model should answer (`positive`, `negative`) and a pool of
# worked examples, disjoint from the items, to show as few-shot examples. The built-in `sentiment` set is generated
# from chapter 5's data; here 20 reviews from the training file that are not in the pool (the `dev` split: for
# trying prompts out), cut to at most 300 characters.

# %%
ps = load_prompt_set("sentiment", {"split": "dev", "items": 20, "pool": 16, "max_chars": 300})
print(f"{ps.name}: {len(ps.items)} items, {len(ps.pool)} pool examples, labels {ps.label_words}")
print("templates:", list(ps.templates))
print("gold labels of the items:", {label: sum(i.reference == label for i in ps.items) for label in ps.labels})

# %% [markdown]
# One item rendered with 2 worked examples: each example is a user message (the template filled with its review)
# followed by an assistant message with its answer word; then the item's own user message. The model reads all of
# it, special tokens included, every time it answers.

# %%
item = ps.items[0]
messages = prompt_messages(ps, item, ps.pool[:2])
ids = prompt_ids(tokenizer, messages)
print(tokenizer.decode(ids))
print(f"gold label: {item.reference}; {len(ids)} tokens ({len(prompt_ids(tokenizer, prompt_messages(ps, item)))} "
      "without the 2 examples)")

# %% [markdown]
# ## 3. Label scoring against generating
# Two ways to get a label out of the model. **Generate and parse**: let it write a few tokens and look for a label
# word in them; an answer that names neither counts as wrong. **Label scoring**: write nothing; run the prompt once
# and read the log-probability the model gives each label word as the first token of its reply; the likelier word is
# the answer. Scoring always yields a label and needs one forward pass instead of one per generated token.
#
# Each accuracy comes with a 95 % bootstrap interval: resample the 20 items with replacement many times and see how
# far the mean moves. The paired comparison looks at the same items under both methods and asks whether the
# difference could be chance (an exact McNemar test on the items where they disagree).

# %%
def correct(result: ConditionResult) -> list[float]:
    return [float(record.scored.correct) for record in result.records]


def show(name: str, result: ConditionResult) -> None:
    acc = result.accuracy()
    print(f"{name:<28} accuracy {acc.mean:.2f} [{acc.low:.2f}, {acc.high:.2f}], answers parsed "
          f"{result.parse_rate().mean:.2f}, {result.examples_per_s:.1f} reviews/s")


scored = run_condition(engine, ps, ps.items, Condition(scoring="logprob"))
generated = run_condition(engine, ps, ps.items, Condition(scoring="generate"))
show("label scoring (0-shot)", scored)
show("generate and parse (0-shot)", generated)
print("what it wrote for the first 4:", [record.output.strip() for record in generated.records[:4]])
majority = max(sum(i.reference == label for i in ps.items) for label in ps.labels) / len(ps.items)
print(f"always answering the most frequent label: {majority:.2f}")
print("paired:", compare_paired(correct(generated), correct(scored), names=("generate", "label scoring")).verdict)

# %% [markdown]
# Read the width of those intervals before reading the means: with 20 items each review is a twentieth of the score,
# and the interval spans a large part of the scale. Two prompts have to disagree on many items before a paired test on
# 20 can tell them apart. The lab scores hundreds of held-out reviews for that reason, and chooses its settings on
# other reviews than those it reports.
#
# ## 4. Few-shot examples
# Worked examples in the prompt show the task instead of describing it. Which examples matters: `balanced` takes the
# same number of each label, alternating (`great, other, great, other`); `nearest` takes, for each review, the pool
# reviews closest to it in meaning (MiniLM sentence embeddings, chapter 2), the nearest one last, right before the
# question. The same 20 reviews, label scoring, k = 2 and 4, each compared with k = 0 (section 3's label scoring).

# %%
baseline = correct(scored)
for strategy in ("balanced", "nearest"):
    selector = ShotSelector(ps, strategy)  # nearest embeds the pool once, here
    for k in (2, 4):
        result = run_condition(engine, ps, ps.items, Condition(shots=k, strategy=strategy, scoring="logprob"),
                               selector)
        show(f"{k}-shot {strategy}", result)
        print(f"    against 0-shot: {compare_paired(baseline, correct(result), names=('0-shot', 'this')).verdict}")

# %% [markdown]
# The same 4 balanced examples in two different orders. Nothing but the order changes. Besides the accuracy, look at
# how far the model leans towards "positive": the margin log P(positive) − log P(negative), averaged over the
# reviews. A small model's lean can move with the order alone (it tends to favour the label of the last examples it
# read); when the margin of a review crosses 0, its answer changes. Count the "positive" answers too: a model that
# gives one label to every review scores exactly the share of that label, the "most frequent label" line of section 3,
# however good its accuracy looks.

# %%
shots = ShotSelector(ps, "balanced").select(ps.items[0], 4)
answers = []
for number, order in enumerate(orderings(shots, 2), start=1):
    result = run_condition(engine, ps, ps.items, Condition(shots=4, scoring="logprob"), FixedShots(order))
    margin = sum(r.label_log_probs[0] - r.label_log_probs[1] for r in result.records) / len(result.records)
    answers.append([r.scored.answer for r in result.records])
    print(f"order {number} ({', '.join(ps.label_words[shot.answer] for shot in order)}): accuracy "
          f"{result.accuracy().mean:.2f}, 'positive' for {answers[-1].count('great')} of {len(ps.items)}, "
          f"mean margin {margin:+.2f}")
print(f"reviews answered differently by the two orders: {sum(a != b for a, b in zip(*answers, strict=True))}")

# %% [markdown]
# ## 5. Chain-of-thought and self-consistency
# For a question that takes several steps, asking the model to write its reasoning first and the answer last
# ("Answer: <number>") gives it room to compute step by step; the answer is then read from that last line. One
# worked example shows the format. Three generated word problems, one per level of difficulty (one step, two steps,
# three steps with a × or ÷). At 135M parameters, expect the chains to read well and the arithmetic to slip.

# %%
arithmetic = load_prompt_set("arithmetic", {"items": 1, "pool": 1})
cot = Condition(shots=1, cot=True, max_new_tokens=64)
chains = run_condition(engine, arithmetic, arithmetic.items, cot)
for record, problem in zip(chains.records, arithmetic.items, strict=True):
    print(f"--- {record.id}: {problem.variables['question']}")
    print(record.output.strip())
    print(f"extracted answer: {record.scored.answer}; reference: {record.reference}; correct: {record.scored.correct}")

# %% [markdown]
# Self-consistency samples several chains at a temperature above 0 (each a different seed) and takes the most
# frequent answer: one wrong step is outvoted if most chains agree. Three chains per problem:

# %%
voted = run_condition(engine, arithmetic, arithmetic.items, replace(cot, samples=3, temperature=0.7))
for record, problem in zip(voted.records, arithmetic.items, strict=True):
    chain_answers = [score_output(arithmetic, problem, chain).answer for chain in record.chains]
    print(f"{record.id}: the 3 chains answer {chain_answers}, the vote says {record.scored.answer}; "
          f"reference {record.reference}")

# %% [markdown]
# ## 6. A soft prompt: training the prompt instead of the model
# A prompt does not have to be made of words. The model turns each token into a vector (its embedding) before
# anything else; a *soft prompt* is a few vectors put in front of those, trained by gradient descent so that the gold
# label word becomes likelier, while every weight of the model stays frozen. SmolLM2's vectors have 576 numbers, so a
# soft prompt of k virtual tokens trains k × 576 numbers. It starts as the embeddings of the set's system prompt.
# A few steps on 8 pool reviews, the dev accuracy measured on 8 items (the lab trains it properly):

# %%
model = engine.model
label_ids = label_word_ids(ps, tokenizer)  # the token ids of "positive" and "negative"
train_examples = label_examples(ps, tokenizer, ps.pool[:8])
dev_examples = label_examples(ps, tokenizer, ps.items[:8])
weights_before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
soft = SoftPrompt.from_text(model, tokenizer, ps.system, QUICK.num_virtual_tokens)
initial = soft.embeddings.detach().clone()
best, history = train_soft_prompt(model, soft, train_examples, dev_examples, label_ids, tokenizer.pad_token_id,
                                  QUICK, progress=False)
trainable = sum(p.numel() for p in soft.parameters())
print(f"trainable numbers: {trainable:,} = {soft.num_virtual_tokens} × {soft.embeddings.shape[1]}; the model's "
      f"{sum(p.numel() for p in model.parameters()):,} weights are frozen")
print("losses:", [round(loss, 3) for loss in history.losses])
print(f"dev accuracy at steps {dict(zip(history.dev_steps, history.dev_accuracy, strict=True))}; "
      f"kept step {history.best_step}")
print(f"the soft prompt moved by up to {(soft.embeddings - initial).abs().max():.4f}")
print("the model's weights are bit-equal after training:",
      all(torch.equal(weights_before[name], tensor) for name, tensor in model.state_dict().items()))

# %% [markdown]
# Hugging Face PEFT has the same method (`PromptTuningConfig`). Put our trained vectors where PEFT keeps its virtual
# tokens and both compute the same logits for the same prompt: the k virtual positions, then the prompt's tokens.
# (PEFT wraps the model it is given, so it gets a copy.)

# %%
peft_model = peft_prompt_tuning(copy.deepcopy(model), best.num_virtual_tokens)
copy_into_peft(best, peft_model)
prompt = torch.tensor([dev_examples[0].prompt_ids])  # (1, T)
mask = torch.ones_like(prompt)
with torch.no_grad():
    ours = soft_prompt_logits(model, best, prompt, mask)  # (1, k + T, vocab)
    theirs = peft_model(input_ids=prompt, attention_mask=mask).logits
print(f"logits of shape {tuple(ours.shape)}; PEFT vs ours: largest difference {(ours - theirs).abs().max():.1e}")
del peft_model

# %% [markdown]
# ## 7. Prefix caching
# With the same 4 examples in front of every review, every prompt starts with the same few hundred tokens: the
# system prompt and the examples. Their keys and values (the KV cache of chapter 3) are the same for every review, so
# they can be computed once and reused; each review then runs only its own tokens. The harness does this by itself;
# here the same 8 reviews with the cache turned off and on.

# %%
four_shot = Condition(shots=4, strategy="balanced", scoring="logprob")
balanced = ShotSelector(ps, "balanced")
eight = ps.items[:8]
uncached = run_condition(engine, ps, eight, four_shot, balanced, cache_prefix=False)
cached = run_condition(engine, ps, eight, four_shot, balanced)
tokens = sum(record.prompt_tokens for record in cached.records) / len(eight)
print(f"{tokens:.0f} prompt tokens per review on average, {cached.prefix_tokens} of them shared and cached")
print(f"without the cache: {uncached.examples_per_s:.2f} reviews/s; with it: {cached.examples_per_s:.2f} reviews/s "
      f"({cached.examples_per_s / uncached.examples_per_s:.1f}× faster)")
same = [a.scored.answer for a in uncached.records] == [b.scored.answer for b in cached.records]
difference = max(abs(x - y) for a, b in zip(uncached.records, cached.records, strict=True)
                 for x, y in zip(a.label_log_probs, b.label_log_probs, strict=True))
print(f"same answers with and without the cache: {same}; label log-probs differ by at most {difference:.1e}")

# %% [markdown]
# ## 8. Your turn
# Not every answer has a label to check. The built-in `qualitative` set holds free-text requests (explain, rewrite,
# summarise, list steps), each in two styles: `bare` (the request alone) and `structured` (a role, who reads the
# answer and why, and an explicit format). Run both and read them side by side:
#
# ```
# z2h prompt run qualitative --template bare --template structured
# ```
#
# The run folder (under `runs/`) holds `report.html` (every prompt as the model read it, and its answer) and
# `rubric.csv`: score each answer 1–5 on relevance, correctness, format and fluency, then
# `z2h prompt score <run folder> --rubric <run folder>/rubric.csv` averages your scores per style, with intervals.
# `z2h prompt run` runs any experiment of this notebook on more items, e.g.
# `z2h prompt run sentiment --scoring logprob --shots 0 --shots 4 --strategy nearest`.
#
# The exercises (`course/08-prompting/exercises.py`) have you write the pieces under every experiment here: the
# template filler, the chat messages, answer extraction, label scoring from log-probabilities, the bootstrap interval
# and the majority vote. Check them with `z2h check 8`.
