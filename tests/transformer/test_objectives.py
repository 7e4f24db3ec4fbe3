from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from zero2hero.transformer.objectives import IGNORE, clm_loss, mlm_loss, mlm_mask


def test_clm_loss_equals_transformers() -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=100, n_positions=32, n_embd=32, n_layer=1, n_head=2)).eval()
    ids = torch.randint(0, 100, (2, 12))
    out = model(ids, labels=ids)
    assert torch.allclose(clm_loss(out.logits, ids), out.loss, atol=1e-6)


def test_mlm_mask_proportions() -> None:
    ids = torch.randint(5, 1000, (64, 256), generator=torch.Generator().manual_seed(0))
    inputs, labels = mlm_mask(ids, mask_id=0, vocab_size=1000, gen=torch.Generator().manual_seed(1))
    picked = labels != IGNORE
    assert abs(picked.float().mean().item() - 0.15) < 0.01
    assert torch.equal(labels[picked], ids[picked]) and torch.equal(inputs[~picked], ids[~picked])
    assert abs((inputs[picked] == 0).float().mean().item() - 0.8) < 0.03
    logits = torch.zeros(64, 256, 1000)
    assert torch.isclose(mlm_loss(logits, labels), torch.log(torch.tensor(1000.0)))
