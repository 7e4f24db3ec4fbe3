"""An encoder–decoder transformer (T5's architecture, built small from a config, no download) that learns to
reverse a string of digits: the encoder reads the source once, the decoder writes the output token by token and
*cross-attends* to every encoder position at each step.

Token ids: 0 is padding and the decoder's start token, 1 ends a sequence, 2–11 are the digits 0–9.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import T5Config, T5ForConditionalGeneration

from zero2hero.errors import InputError

PAD, EOS, FIRST_DIGIT = 0, 1, 2


@dataclass
class ReversalConfig:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    length: int = 6
    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise InputError(f"d_model={self.d_model} is not a multiple of n_heads={self.n_heads}",
                             "pick d_model divisible by n_heads")
        if self.length < 1 or self.steps < 0:
            raise InputError(f"length={self.length}, steps={self.steps}", "pass length >= 1 and steps >= 0")


def tiny_t5(config: ReversalConfig) -> T5ForConditionalGeneration:
    """A randomly initialised T5 with ``n_layers`` encoder and ``n_layers`` decoder layers over a 12-token
    vocabulary; eager attention so that the attention weights can be returned."""
    torch.manual_seed(config.seed)
    t5 = T5Config(vocab_size=FIRST_DIGIT + 10, d_model=config.d_model, d_kv=config.d_model // config.n_heads,
                  d_ff=4 * config.d_model, num_layers=config.n_layers, num_decoder_layers=config.n_layers,
                  num_heads=config.n_heads, dropout_rate=0.0, decoder_start_token_id=PAD, pad_token_id=PAD,
                  eos_token_id=EOS, attn_implementation="eager")
    return T5ForConditionalGeneration(t5)


def reversal_batch(n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random digit strings and their reversals, each ended by EOS: two ``(n, length + 1)`` id tensors."""
    digits = torch.randint(FIRST_DIGIT, FIRST_DIGIT + 10, (n, length), generator=generator)
    eos = torch.full((n, 1), EOS)
    return torch.cat([digits, eos], 1), torch.cat([digits.flip(1), eos], 1)


def train_reversal(config: ReversalConfig) -> tuple[T5ForConditionalGeneration, list[float]]:
    """Train :func:`tiny_t5` on fresh random batches; returns the model (eval mode) and the loss of every step."""
    model = tiny_t5(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    losses = []
    for _ in range(config.steps):
        source, target = reversal_batch(config.batch_size, config.length, generator)
        loss = model(input_ids=source, labels=target).loss  # labels shifted right internally, start token PAD
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


@torch.inference_mode()
def cross_attention(model: T5ForConditionalGeneration, source: torch.Tensor,
                    decoder_input: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One ``(batch, heads, decoder_len, source_len)`` tensor per decoder layer: how much each output position
    looks at each input position."""
    return model(input_ids=source, decoder_input_ids=decoder_input, output_attentions=True).cross_attentions


@torch.inference_mode()
def greedy_decode(model: T5ForConditionalGeneration, source: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Encoder once, then one decoder pass per new token over everything generated so far (no cache, to keep
    the two halves visible); a finished sequence (EOS written) continues with PAD, and the loop stops when all
    are finished — as ``model.generate`` does. ``source``: ``(batch, source_len)``; returns
    ``(batch, 1 + generated)``, starting with the start token."""
    encoded = model.get_encoder()(input_ids=source)
    output = torch.full((source.shape[0], 1), PAD)
    finished = torch.zeros(source.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        logits = model(encoder_outputs=encoded, decoder_input_ids=output).logits
        token = logits[:, -1].argmax(-1).masked_fill(finished, PAD)
        output = torch.cat([output, token[:, None]], 1)
        finished |= token == EOS
        if finished.all():
            break
    return output


@torch.inference_mode()
def reversal_accuracy(model: T5ForConditionalGeneration, config: ReversalConfig, n: int = 200) -> float:
    """Share of ``n`` unseen digit strings that ``model.generate`` reverses exactly (EOS included)."""
    source, target = reversal_batch(n, config.length, torch.Generator().manual_seed(config.seed + 1))
    generated = model.generate(input_ids=source, max_new_tokens=config.length + 1, do_sample=False)
    return float((generated[:, 1:config.length + 2] == target).all(1).float().mean())
