"""QLoRA on the CPU: an NF4 base under fp32 adapters trains, only the adapters (and the head) learn, the base is
stored in 4 bits, and its backward pass keeps no float32 copy of the weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.lora.inject import add_lora
from zero2hero.lora.layer import LoRALinear, LoRASettings
from zero2hero.lora.qlora import FrozenNF4Linear, load_qlora_bitsandbytes, quantize_base, quantized_bytes
from zero2hero.quantization.linear import QuantLinear
from zero2hero.quantization.nf4 import NF4_CODEBOOK


def tiny_llama() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    add_lora(model, "q_proj,v_proj", LoRASettings(rank=4, alpha=8))
    ids = torch.randint(0, 64, (4, 12), generator=torch.Generator().manual_seed(1))
    return model, {"input_ids": ids, "labels": ids}


def minilm() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from zero2hero.assets import resolve_model_path

    torch.manual_seed(0)
    source = resolve_model_path("minilm")
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=2, dtype="float32")
    add_lora(model, "query,value", LoRASettings(rank=8, alpha=16), train_in_full=["classifier"])
    tokenizer = AutoTokenizer.from_pretrained(source)
    batch = tokenizer(["the coffee was fresh and lovely", "stale, bitter and broken on arrival"] * 2,
                      padding=True, return_tensors="pt")
    return model, {**batch, "labels": torch.tensor([0, 1, 0, 1])}


def train_steps(model: nn.Module, batch: dict[str, torch.Tensor], steps: int = 8) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def check_qlora(model: nn.Module, batch: dict[str, torch.Tensor], head: tuple[str, ...]) -> None:
    quantized = quantize_base(model)
    assert quantized and all(isinstance(model.get_submodule(name), FrozenNF4Linear) for name in quantized)
    assert not any(type(module) is nn.Linear and ".lora_" not in name and not name.startswith(head)
                   for name, module in model.named_modules())  # every frozen linear but the head is 4-bit
    for layer in (module for module in model.modules() if isinstance(module, QuantLinear)):
        assert layer.fmt == "nf4" and layer.q.dtype == torch.uint8 and layer.q.numel() * 2 == layer.shape.numel()
        assert not any(p.requires_grad for p in layer.parameters())
    for layer in (module for module in model.modules() if isinstance(module, LoRALinear)):
        assert isinstance(layer.base, FrozenNF4Linear) and layer.lora_A["default"].weight.dtype == torch.float32
    nf4_bytes, fp32_bytes = quantized_bytes(model)
    assert nf4_bytes < 0.2 * fp32_bytes

    losses = train_steps(model, batch)
    assert losses[-1] < 0.95 * losses[0], losses  # a fixed batch: the adapters start to learn it
    model(**batch).loss.backward()
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad and all("lora_" in name or name.startswith(head) for name in with_grad)
    assert any("lora_A" in name for name in with_grad) and any("lora_B" in name for name in with_grad)


def test_qlora_trains_a_tiny_llama() -> None:
    model, batch = tiny_llama()
    check_qlora(model, batch, head=("lm_head",))


@pytest.mark.heavy
def test_qlora_trains_minilm() -> None:
    model, batch = minilm()
    check_qlora(model, batch, head=("classifier",))


def test_the_4bit_layer_computes_with_its_nf4_weight_and_passes_the_gradient_through_it() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(64, 32)
    layer = FrozenNF4Linear(linear)
    weight = layer.dequantized()
    levels = weight / layer.scale.repeat_interleave(64).reshape(32, 64)  # every weight is a level × its block's absmax
    assert (levels.unsqueeze(-1) - NF4_CODEBOOK).abs().amin(dim=-1).max() < 1e-6
    x = torch.randn(3, 64, requires_grad=True)
    reference = x.detach().clone().requires_grad_(True)
    y = layer(x)
    expected = reference @ weight.T + linear.bias.detach()
    torch.testing.assert_close(y, expected)
    grad = torch.randn_like(y)
    y.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x.grad, reference.grad)


def test_the_backward_pass_keeps_no_float32_weight() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(256, 256, bias=False)
    kept: list[torch.Tensor] = []
    x = torch.randn(2, 256, requires_grad=True)
    for layer in (QuantLinear(linear, "nf4"), FrozenNF4Linear(linear)):
        kept.clear()
        with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
            layer(x).sum()
        saved_weight = [t for t in kept if t.shape == (256, 256) or t.shape == (256, 256)[::-1]]
        assert bool(saved_weight) == (type(layer) is QuantLinear)  # chapter 4's layer keeps a (256, 256) copy


def test_quantize_base_needs_adapters_first() -> None:
    with pytest.raises(InputError, match="add_lora"):
        quantize_base(nn.Sequential(nn.Linear(64, 64)))


def test_bitsandbytes_path_refuses_without_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: the refusal cannot happen here")
    with pytest.raises(InputError, match="CUDA"):
        load_qlora_bitsandbytes("smollm2", "q_proj,v_proj", LoRASettings())


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="bitsandbytes' 4-bit training needs a CUDA GPU")


def check_bitsandbytes_qlora(name: str, vocab: int) -> None:
    import bitsandbytes as bnb

    model = load_qlora_bitsandbytes(name, "q_proj,v_proj", LoRASettings(rank=8, alpha=16))
    assert isinstance(model.get_base_model().model.layers[0].mlp.down_proj, bnb.nn.Linear4bit)
    ids = torch.randint(0, vocab, (2, 16), device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    losses = train_steps(model, {"input_ids": ids, "labels": ids})
    assert losses[-1] < losses[0]
    assert all("lora_" in name for name, p in model.named_parameters() if p.requires_grad)


@needs_cuda
def test_bitsandbytes_qlora_trains_a_tiny_llama_on_a_gpu(tmp_path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=256)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    check_bitsandbytes_qlora(str(tmp_path), vocab=128)


@needs_cuda
@pytest.mark.heavy
def test_bitsandbytes_qlora_trains_smollm2_on_a_gpu() -> None:
    check_bitsandbytes_qlora("smollm2", vocab=1000)
