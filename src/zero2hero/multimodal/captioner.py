"""A captioner in the LLaVA style: the trained CLIP's image encoder (frozen) gives each image one embedding, a small
MLP projects it to ``prefix_tokens`` vectors in the language model's embedding space (576 wide for SmolLM2), and the
frozen language model reads them in the user's turn, before the request "Describe the image.", and answers with the
caption. Only the projection learns; the loss is on the caption's tokens (and the end-of-turn token) alone.

The input sequence, in the chat template: ``[system turn, "<|im_start|>user\n"] [image prefix (k vectors)]
["Describe the image.<|im_end|>", assistant header] [caption tokens, <|im_end|>] [padding]``. LLaVA too puts the
image inside the user's message. What comes before the image never changes and the LM is frozen, so its keys and
values are computed once and every batch starts from that KV cache: a third of SmolLM2's work per step saved.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zero2hero.errors import InputError
from zero2hero.multimodal.clip import TinyCLIP
from zero2hero.multimodal.data import ImageTextSet
from zero2hero.multimodal.digits import DIGIT_WORDS
from zero2hero.multimodal.image_encoder import ImageEncoder, check_images
from zero2hero.multimodal.scenes import COLOURS, POSITIONS, SHAPES
from zero2hero.progress import StepProgress, bar

PROMPT = "Describe the image."
IGNORE_INDEX = -100  # a label PyTorch's cross-entropy skips: padding positions
ATTRIBUTE_WORDS = {"shape": SHAPES, "colour": COLOURS, "position": POSITIONS, "digit": DIGIT_WORDS}


class Captioner(nn.Module):
    """Frozen image encoder -> trainable MLP projection -> ``prefix_tokens`` input vectors of the frozen LM."""

    def __init__(self, image_encoder: ImageEncoder, lm: nn.Module, tokenizer, prefix_tokens: int = 4,
                 hidden: int = 512) -> None:
        super().__init__()
        self.image_encoder, self.lm, self.tokenizer, self.prefix_tokens = image_encoder, lm, tokenizer, prefix_tokens
        for frozen in (image_encoder, lm):
            frozen.requires_grad_(False)
        self.width = lm.get_input_embeddings().embedding_dim
        self.projection = nn.Sequential(nn.Linear(image_encoder.dim, hidden), nn.GELU(),
                                        nn.Linear(hidden, prefix_tokens * self.width))
        chat = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                             tokenize=False)
        split = chat.index(PROMPT)  # the image goes here: after "<|im_start|>user\n", before the request
        self.register_buffer("head_ids", self.token_ids(chat[:split]), persistent=False)
        self.register_buffer("tail_ids", self.token_ids(chat[split:]), persistent=False)
        self.head_keys_values: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # filled on first use
        self.train()

    def token_ids(self, text: str) -> torch.Tensor:
        return torch.tensor(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)

    def train(self, mode: bool = True) -> Captioner:
        """Only the projection changes mode: the frozen parts stay in eval (no batch-norm statistics updated)."""
        super().train(mode)
        self.image_encoder.eval()
        self.lm.eval()
        return self

    def head_cache(self, batch: int):
        """A fresh KV cache of the sequence's fixed start (system turn, user header) for ``batch`` rows."""
        from transformers import DynamicCache

        if self.head_keys_values is None:
            with torch.no_grad():
                cache = self.lm(input_ids=self.head_ids[None], use_cache=True).cache
            self.head_keys_values = [(layer.keys, layer.values) for layer in cache.layers]
        rows = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self.head_keys_values]
        return DynamicCache(ddp_cache_data=rows, config=self.lm.config)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """images (b, 3, 32, 32) -> the frozen encoder's embeddings (b, dim)."""
        with torch.no_grad():
            return self.image_encoder(images)

    def request_embeddings(self, features: torch.Tensor) -> torch.Tensor:
        """features (b, dim) -> the LM's input after the cached start, up to the assistant header:
        (b, k + request length, width), the k image vectors then the embedded request."""
        prefix = self.projection(features).view(len(features), self.prefix_tokens, self.width)
        request = self.lm.get_input_embeddings()(self.tail_ids).expand(len(features), -1, -1)
        return torch.cat([prefix, request], dim=1)

    def caption_ids(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, labels) (b, t): each caption's tokens then the end-of-turn token, right-padded; padding labels are
        IGNORE_INDEX."""
        rows = [self.token_ids(c).tolist() + [self.tokenizer.eos_token_id] for c in captions]
        length = max(map(len, rows))
        ids = torch.tensor([r + [self.tokenizer.eos_token_id] * (length - len(r)) for r in rows])
        labels = torch.tensor([r + [IGNORE_INDEX] * (length - len(r)) for r in rows])
        return ids, labels

    def loss(self, features: torch.Tensor, captions: list[str]) -> torch.Tensor:
        """Mean cross-entropy of the caption tokens (b captions) given the images' features (b, dim)."""
        request = self.request_embeddings(features)  # (b, r, width)
        ids, labels = self.caption_ids(captions)  # (b, t)
        embeds = torch.cat([request, self.lm.get_input_embeddings()(ids)], dim=1)  # (b, r + t, width)
        seen = len(self.head_ids) + request.shape[1]  # positions before the caption: cached start + request
        mask = torch.cat([torch.ones(len(ids), seen, dtype=torch.long), (labels != IGNORE_INDEX).long()], dim=1)
        t = ids.shape[1]
        # The position before caption token j predicts it: the logits of the last t + 1 positions but the last.
        logits = self.lm(inputs_embeds=embeds, attention_mask=mask, cache=self.head_cache(len(ids)),
                         logits_to_keep=t + 1).logits[:, :-1]
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)


@dataclass
class CaptionerConfig:
    steps: int = 40
    batch_size: int = 16
    prefix_tokens: int = 4
    hidden: int = 512  # the projection MLP's hidden width
    learning_rate: float = 5e-3  # high for a from-scratch projection: SmolLM2's loss falls from ~5 to ~0.05 in 40 steps
    lm: str = "smollm2"  # an offline default's name or a local model folder
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.prefix_tokens, self.hidden) < 1 or self.learning_rate <= 0:
            raise InputError(f"captioner settings out of range: {self}",
                             "use steps, batch_size, prefix_tokens and hidden ≥ 1 and learning_rate > 0")


def train_captioner(clip: TinyCLIP, train: ImageTextSet, config: CaptionerConfig,
                    progress: StepProgress | None = None) -> tuple[Captioner, list[float]]:
    """Train the projection of a new :class:`Captioner` on ``train`` (AdamW); return it and every step's loss.

    The image encoder is a copy of ``clip``'s (``clip`` itself is left untouched); its features are computed once.
    Batches visit the pairs in a new order each pass (from ``config.seed``). ``progress(step, steps, loss)``.
    """
    from zero2hero.assets import load_causal_lm

    check_images(train.images)
    torch.manual_seed(config.seed)
    lm, tokenizer = load_causal_lm(config.lm)
    captioner = Captioner(copy.deepcopy(clip.image_encoder), lm, tokenizer, config.prefix_tokens, config.hidden)
    features = captioner.image_features(train.images)  # (n, dim), once: the encoder is frozen
    optimizer = torch.optim.AdamW(captioner.projection.parameters(), lr=config.learning_rate)
    order_generator = torch.Generator().manual_seed(config.seed)
    order, cursor, losses = torch.randperm(len(train), generator=order_generator), 0, []
    for step in range(1, config.steps + 1):
        if cursor + config.batch_size > len(train):
            order, cursor = torch.randperm(len(train), generator=order_generator), 0
        rows = order[cursor:cursor + config.batch_size]
        cursor += config.batch_size
        loss = captioner.loss(features[rows], [train.captions[i] for i in rows.tolist()])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, config.steps, losses[-1])
    return captioner.eval(), losses


@torch.no_grad()
def generate_captions(captioner: Captioner, images: torch.Tensor, max_new_tokens: int = 12,
                      batch_size: int = 64) -> list[str]:
    """Greedy captions of ``images`` (n, 3, 32, 32), with the LM's KV cache: from the cached start, the image vectors
    and the request in one forward pass, then one token per step. Every image's prompt has the same length, so no
    padding is needed."""
    check_images(images)
    eos = captioner.tokenizer.eos_token_id
    captions = []
    for start in bar(range(0, len(images), batch_size), "captioning"):
        features = captioner.image_features(images[start:start + batch_size])
        out = captioner.lm(inputs_embeds=captioner.request_embeddings(features),
                           cache=captioner.head_cache(len(features)), use_cache=True)
        token = out.logits[:, -1].argmax(-1)  # (b,)
        tokens, done = [token], token == eos
        while len(tokens) < max_new_tokens and not done.all():
            out = captioner.lm(input_ids=token[:, None], cache=out.cache, use_cache=True)
            token = out.logits[:, -1].argmax(-1).masked_fill(done, eos)  # a finished caption stays finished
            tokens.append(token)
            done |= token == eos
        for row in torch.stack(tokens, dim=1).tolist():
            row = row[:row.index(eos)] if eos in row else row
            captions.append(captioner.tokenizer.decode(row, skip_special_tokens=True).strip())
    return captions


def parse_attribute(caption: str, words: tuple[str, ...]) -> str | None:
    """The one word of ``words`` in ``caption`` (lower case, punctuation ignored); None if none or several differ."""
    found = {w for w in "".join(c if c.isalnum() else " " for c in caption.lower()).split() if w in words}
    return found.pop() if len(found) == 1 else None


def attribute_accuracy(captions: list[str], attributes: list[dict[str, str]]) -> dict[str, float]:
    """Exact attribute accuracy: for each attribute (shape, colour, position, or digit), the share of captions that
    name exactly the true value (and no other value of it); ``"all"``: the share with every attribute right."""
    if not captions or len(captions) != len(attributes):
        raise InputError(f"{len(captions)} captions and {len(attributes)} attribute sets",
                         "give one attribute set per caption, at least one")
    names = list(attributes[0])
    unknown = [n for n in names if n not in ATTRIBUTE_WORDS]
    if unknown or any(list(a) != names for a in attributes):
        keys = sorted({k for a in attributes for k in a})
        raise InputError(f"attribute sets must all have the same known keys, got {keys}",
                         f"use keys among {', '.join(ATTRIBUTE_WORDS)}")
    right = {n: [parse_attribute(c, ATTRIBUTE_WORDS[n]) == a[n] for c, a in zip(captions, attributes, strict=True)]
             for n in names}
    result = {n: sum(hits) / len(hits) for n, hits in right.items()}
    result["all"] = sum(all(r) for r in zip(*right.values(), strict=True)) / len(captions)
    return result
