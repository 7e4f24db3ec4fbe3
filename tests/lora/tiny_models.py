"""Tiny models built locally in milliseconds (a BERT classifier, a LLaMA causal LM), and a helper that gives our
LoRA model and PEFT's the same trained-looking weights."""

from __future__ import annotations

import torch
from torch import nn


def tiny_bert(seed: int = 0, hidden: int = 32, num_labels: int = 2) -> nn.Module:
    """A 2-layer BertForSequenceClassification (dropout 0, eval mode), its weights drawn under ``seed``."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, num_labels=num_labels)
    return BertForSequenceClassification(config).eval()


def tiny_llama(seed: int = 0) -> nn.Module:
    """A 2-layer LlamaForCausalLM (grouped-query attention, eval mode), its weights drawn under ``seed``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=32)
    return LlamaForCausalLM(config).eval()


def common_name(name: str) -> str:
    """A PEFT parameter name as ours: ``base_model.model.x.classifier.modules_to_save.default.weight`` ->
    ``x.classifier.weight``."""
    return name.removeprefix("base_model.model.").replace(".modules_to_save.default", "")


def trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The trainable parameters of our model or PEFT's, under the same names."""
    return {common_name(name): param for name, param in model.named_parameters() if param.requires_grad}


@torch.no_grad()
def perturb(model: nn.Module, seed: int) -> None:
    """Overwrite every trainable weight (B is 0 at the start) with random values drawn in name order, so that the
    same ``seed`` gives our model and PEFT's the same weights, as if both had trained."""
    generator = torch.Generator().manual_seed(seed)
    for _, param in sorted(trainable(model).items()):
        param.copy_(torch.randn(param.shape, generator=generator) * 0.2)


def ids(seed: int = 0, batch: int = 2, length: int = 7, vocab: int = 30) -> torch.Tensor:
    """Random token ids, shape (batch, length)."""
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def logits(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """The model's logits for ``input_ids`` without gradients."""
    with torch.no_grad():
        return model(input_ids=input_ids).logits
