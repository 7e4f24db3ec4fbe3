# %% [markdown]
# # Chapter 10 — Beyond fine-tuning: instruction tuning, preferences, RL and a multimodal model
# This notebook walks the chapter on a small scale: the generated instructions and their split by phrasing, what
# response-only SFT masks (and that our loss is TRL's), a few LoRA steps of instruction tuning on SmolLM2, the
# Bradley–Terry and DPO losses on numbers you can check by hand, the group-relative advantage of GRPO, and a tiny
# CLIP trained from scratch on rendered scenes and handwritten digits. The lab (`z2h lab 10`) runs every step at
# full size, with the reward model, DPO, GRPO and the captioner.
#
# Everything runs on the CPU in a couple of minutes.

# %%
import copy
import math

import torch

from zero2hero.alignment.dpo import dpo_loss
from zero2hero.alignment.evaluate import instruction_accuracy
from zero2hero.alignment.grpo import arithmetic_reward
from zero2hero.alignment.instructions import build_instructions, split_by_template
from zero2hero.alignment.preferences import build_pairs
from zero2hero.alignment.reward import bradley_terry_loss
from zero2hero.alignment.sft import IGNORE_INDEX, collate, encode_example, sft_loss
from zero2hero.alignment.sft_train import SFTConfig, train_sft, trl_sft_loss
from zero2hero.assets import load_causal_lm
from zero2hero.multimodal.clip import CLIPConfig, contrastive_loss, train_clip
from zero2hero.multimodal.data import class_labels, digit_prompts, digit_sets, mix, scene_sets
from zero2hero.multimodal.retrieval import zero_shot_accuracy

torch.manual_seed(0)

# %% [markdown]
# ## 1. Instructions with checkable answers, split by phrasing
# Four tasks, each asked by several templates (phrasings). The test split holds out whole templates: the model is
# tested on skills it trained on, in words it never saw.

# %%
items = build_instructions(per_template=6, seed=0)
train, test = split_by_template(items, seed=0)
print(f"{len(items)} instructions: {len(train)} train, {len(test)} test")
print("held-out templates:", sorted({item.template for item in test}))
shared = {i.template for i in train} & {i.template for i in test}
print(f"templates in both splits: {len(shared)}")
print("an example:", repr(test[0].prompt), "->", repr(test[0].answer))

# %% [markdown]
# ## 2. What response-only SFT masks
# The example is the chat template around the prompt, then the answer and the end of turn. The labels copy the
# tokens, with -100 (ignored by the cross-entropy) on every prompt position.

# %%
model, tokenizer = load_causal_lm("smollm2")
example = encode_example(tokenizer, "What is 17 + 25?", "42")
batch = collate([example], tokenizer.pad_token_id)
labels = batch["labels"][0]
kept = [tokenizer.decode([t]) for t in labels[labels != IGNORE_INDEX].tolist()]
print(f"{len(example['input_ids'])} tokens, {example['prompt_length']} of them prompt (masked); learned: {kept}")

# %% [markdown]
# Our loss (shift by one, cross-entropy on the unmasked labels) and TRL's `SFTTrainer` on the same four examples:

# %%
four = train[:4]
batch = collate([encode_example(tokenizer, i.prompt, i.answer) for i in four], tokenizer.pad_token_id)
with torch.inference_mode():
    ours = sft_loss(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                    batch["labels"]).item()
theirs = trl_sft_loss(model, tokenizer, four)
print(f"SFT loss: ours {ours:.6f}, TRL {theirs:.6f}, difference {abs(ours - theirs):.1e}")

# %% [markdown]
# ## 3. A few steps of instruction tuning
# LoRA on SmolLM2 for a handful of steps: the held-out accuracy before and after. (The lab trains for longer and
# compares with full fine-tuning; a few steps mostly teach the format — answer first, stop.)

# %%
probe = test[::3][:12]
before = instruction_accuracy(model, tokenizer, probe, max_new_tokens=10)
tuned, history = train_sft(copy.deepcopy(model), tokenizer, train, SFTConfig(steps=8, batch_size=4))
after = instruction_accuracy(tuned, tokenizer, probe, max_new_tokens=10)
print(f"held-out accuracy on {len(probe)} items: before {before['all']:.3f}, after 8 LoRA steps {after['all']:.3f}")
print(f"loss: first step {history.losses[0]:.3f}, last step {history.losses[-1]:.3f}")

# %% [markdown]
# ## 4. Preferences and the Bradley–Terry loss
# Pairs made by rules: a correct answer against a wrong one, the asked format against another, concise against
# padded. A reward model is trained so that σ(r_chosen − r_rejected), the probability the chosen one wins, is high.

# %%
pairs = build_pairs(train, seed=0)
print("pairs by rule:", {rule: sum(p.rule == rule for p in pairs) for rule in sorted({p.rule for p in pairs})})
loss = bradley_terry_loss(torch.tensor([3.0]), torch.tensor([1.0])).item()
shifted = bradley_terry_loss(torch.tensor([13.0]), torch.tensor([11.0])).item()
print(f"Bradley–Terry: rewards 3.0 vs 1.0 -> P(chosen wins) {torch.sigmoid(torch.tensor(2.0)).item():.3f}, "
      f"loss {loss:.3f}; both +10: loss {shifted:.3f}")

# %% [markdown]
# ## 5. The DPO loss
# Each argument is a summed log-probability of a response. A policy equal to its reference has every log-ratio 0:
# the loss is log 2, whatever β. Moving probability towards the chosen response lowers it.

# %%
chosen, rejected = torch.tensor([-12.0, -30.0]), torch.tensor([-15.0, -9.0])
at_start = dpo_loss(chosen, rejected, chosen, rejected, beta=0.1).item()
moved = dpo_loss(chosen + 5, rejected - 5, chosen, rejected, beta=0.1).item()
print(f"DPO loss: policy = reference {at_start:.4f} (log 2 = {math.log(2):.4f}); chosen +5, rejected -5: {moved:.4f}")

# %% [markdown]
# ## 6. GRPO's group-relative advantage
# For one prompt, sample a group of answers and score them with the verifiable reward; each answer's advantage is
# its reward minus the group's mean, over the group's standard deviation. A group whose answers all score the same
# gives no signal — which is why GRPO needs a model that is sometimes right.

# %%
completions = ["42", "It is 42.", "41", "17 + 25 = 42"]
rewards = torch.tensor(arithmetic_reward(completions, ["42"] * 4))
advantages = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
print("rewards:", rewards.tolist(), "advantages:", [round(a, 2) for a in advantages.tolist()])

# %% [markdown]
# ## 7. A tiny CLIP, trained from scratch
# A small CNN for images and chapter 3's transformer for captions, trained with the symmetric InfoNCE loss on
# rendered scenes and scikit-learn's handwritten digits. Then zero-shot classification: the nearest caption wins.

# %%
images, texts = torch.randn(4, 8), torch.randn(4, 8)
print(f"InfoNCE on random embeddings {contrastive_loss(images, texts, 0.07).item():.3f}, on matched ones "
      f"{contrastive_loss(images, images, 0.07).item():.3f} (a uniform guess among 4 scores log 4 = "
      f"{math.log(4):.3f})")
scenes, unseen = scene_sets(per_combination=4, seed=0)
digits_train, digits_test = digit_sets(seed=0)
clip, losses = train_clip(mix(scenes, digits_train), CLIPConfig(epochs=3, seed=0))
accuracy = zero_shot_accuracy(clip, digits_test.images, digit_prompts(), class_labels(digits_test.captions,
                                                                                       digit_prompts()))
print(f"CLIP: {len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}; held-out digits zero-shot accuracy "
      f"{accuracy:.3f} (chance 0.100)")
print(f"unseen (shape, colour) combinations: {sorted({c.rsplit(' ', 3)[0] for c in unseen.captions})}")
