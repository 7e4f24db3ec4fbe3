"""The training-memory model: hand-computed arithmetic, the activation formula against the bytes autograd really
saves, and (heavy) the predicted peak against the peak measured in a fresh process on MiniLM and SmolLM2."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.lora.inject import add_lora
from zero2hero.lora.layer import LoRASettings
from zero2hero.lora.memory import ModelShape, predict

# A 1-layer LLaMA-like shape small enough to count by hand: vocabulary 10, hidden 8, 2 heads of 4 (1 key/value
# head), intermediate 16, tied head.
HAND = ModelShape("decoder", layers=1, hidden=8, heads=2, kv_heads=1, head_dim=4, intermediate=16, vocab=10,
                  other_embeddings=0, tied_head=True, attention_dropout=False, hidden_dropout=False, bias=False)


def test_parameters_gradients_and_adamw_states_by_hand() -> None:
    # embedding 10·8 = 80; q 8·8 + k 8·4 + v 8·4 + o 8·8 = 192; gate, up, down 3·8·16 = 384; 2 norms 16; final 8
    assert HAND.parameters() == 80 + 192 + 384 + 16 + 8 == 680
    full = predict(HAND, "full", batch_size=1, length=2)
    assert (full.weights_bytes, full.gradients_bytes, full.optimizer_bytes) == (2720, 2720, 5440)
    # LoRA r=2 on q (8 → 8) and v (8 → 4): 2·(8+8) + 2·(8+4) = 56 trainable numbers, stored beside the base
    lora = predict(HAND, "lora", batch_size=1, length=2, targets=["q_proj", "v_proj"], rank=2)
    assert (lora.weights_bytes, lora.gradients_bytes, lora.optimizer_bytes) == (2720 + 224, 224, 448)
    # QLoRA: the 576 block-linear weights at 0.5625 bytes instead of 4
    qlora = predict(HAND, "qlora", batch_size=1, length=2, targets=["q_proj", "v_proj"], rank=2)
    assert qlora.weights_bytes == 2720 + 224 - 576 * (4 - 0.5625)
    assert qlora.gradients_bytes == lora.gradients_bytes


def test_activations_by_hand() -> None:
    # batch 1 × 2 tokens: N = 2, S = 1·2 heads·2² = 8, r = 2 on q and v
    lora = predict(HAND, "lora", batch_size=1, length=2, targets=["q_proj", "v_proj"], rank=2)
    # per layer: Q,K,V 3·2·8 = 48; S 8; 2 adapters' middles 2·2·2 = 8; norm inputs 2·2·8 = 32, 1/rms 4;
    # SiLU in, up out, SiLU out 3·2·16 = 96; the q/v input (norm output) 2·8 = 16
    layer = 48 + 8 + 8 + 32 + 4 + 96 + 16
    # outside: cos and sin 2·2·4 = 16; final norm input 16 and 1/rms 2; log-probabilities 2·10 = 20; the two labels
    # (int64: 4 numbers' worth)
    assert lora.activations_bytes == 4 * (layer + 16 + 18 + 20 + 4)
    assert lora.workspace_bytes == 4 * 2 * 2 * 10 and lora.head_gradient_bytes == 0
    assert lora.total_bytes == lora.weights_bytes + lora.optimizer_bytes + lora.activations_bytes + lora.workspace_bytes
    full = predict(HAND, "full", batch_size=1, length=2)
    assert full.head_gradient_bytes == 4 * 80  # the tied embedding's gradient is made first
    assert full.total_bytes == full.weights_bytes + full.optimizer_bytes + max(
        full.activations_bytes + full.workspace_bytes + full.head_gradient_bytes, full.gradients_bytes)
    assert full.added_bytes == full.total_bytes - full.weights_bytes


def test_parameter_counts_equal_the_real_models() -> None:
    from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

    bert = BertConfig(vocab_size=50, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=96, max_position_embeddings=40, num_labels=3)
    llama = LlamaConfig(vocab_size=50, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, intermediate_size=96, tie_word_embeddings=True)
    for config, model, labels in ((bert, BertForSequenceClassification(bert), 3), (llama, LlamaForCausalLM(llama), 0)):
        assert ModelShape.from_config(config).parameters(labels) == sum(p.numel() for p in model.parameters())


def test_it_refuses_what_it_cannot_model() -> None:
    from transformers import GPT2Config

    with pytest.raises(InputError, match="no memory formula"):
        ModelShape.from_config(GPT2Config())
    with pytest.raises(InputError, match="unknown training method"):
        predict(HAND, "prefix", 1, 2)
    with pytest.raises(InputError, match="≥ 1"):
        predict(HAND, "full", 0, 2)


def saved_bytes(model: nn.Module, inputs: dict[str, torch.Tensor]) -> int:
    """Bytes autograd keeps for the backward pass in one forward pass of ``model`` (each storage once, weights not
    counted): measured with saved-tensor hooks, independently of the formula."""
    weights = {param.untyped_storage().data_ptr() for param in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(**inputs).loss.backward()
    return sum(seen.values())


def tiny(kind: str, layers: int, method: str) -> tuple[nn.Module, dict[str, torch.Tensor], object]:
    """A tiny eager-attention BERT classifier (dropout on) or LLaMA LM, full or with LoRA r=4 on query/value."""
    from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    ids = torch.randint(5, 60, (3, 10))
    if kind == "bert":
        config = BertConfig(vocab_size=60, hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
                            intermediate_size=96, max_position_embeddings=16, num_labels=2, attn_implementation="eager")
        model, labels = BertForSequenceClassification(config), torch.tensor([0, 1, 0])
        targets, head = "query,value", ["classifier"]
    else:
        config = LlamaConfig(vocab_size=60, hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=96, attn_implementation="eager")
        model, labels, targets, head = LlamaForCausalLM(config), ids, "q_proj,v_proj", []
    if method == "lora":
        add_lora(model, targets, LoRASettings(rank=4), train_in_full=head)
    return model, {"input_ids": ids, "labels": labels}, config


@pytest.mark.parametrize("kind", ["bert", "llama"])
@pytest.mark.parametrize("method", ["full", "lora"])
def test_the_per_layer_formula_equals_what_autograd_saves(kind: str, method: str) -> None:
    targets = ["query", "value"] if kind == "bert" else ["q_proj", "v_proj"]
    labels = 2 if kind == "bert" else 0
    measured, predicted = [], []
    for layers in (2, 3):
        model, inputs, config = tiny(kind, layers, method)
        measured.append(saved_bytes(model, inputs))
        predicted.append(predict(config, method, 3, 10, targets, rank=4, num_labels=labels).activations_bytes)
    assert predicted[1] - predicted[0] == measured[1] - measured[0]  # one more layer: exactly what it saves
    # the whole model: within a few position/type ids and scalars when every layer learns; under LoRA the first
    # layer saves a little less (its input needs no gradient) and the formula counts it as a middle layer
    if method == "full":
        assert abs(predicted[1] - measured[1]) <= 0.002 * measured[1]
    else:
        assert 0 <= predicted[1] - measured[1] < 0.1 * measured[1]


@pytest.mark.heavy
@pytest.mark.parametrize("model,method,batch_size,length", [
    ("minilm", "full", 8, 128), ("minilm", "ours", 8, 128), ("minilm", "qlora", 8, 128),
    ("smollm2", "full", 2, 64), ("smollm2", "ours", 2, 64), ("smollm2", "qlora", 2, 64), ("smollm2", "ours", 4, 128),
])
def test_predicted_peak_is_within_a_quarter_of_the_measured_one(model: str, method: str, batch_size: int,
                                                                length: int) -> None:
    from zero2hero.lora.step_cost import Workload, peak_added_mb, predicted_added_mb

    workload = Workload(model, batch_size, length)
    measured, predicted = peak_added_mb(workload, method, steps=3), predicted_added_mb(workload, method)
    assert abs(predicted / measured - 1) <= 0.25, f"predicted {predicted:.0f} MB, measured {measured:.0f} MB"
