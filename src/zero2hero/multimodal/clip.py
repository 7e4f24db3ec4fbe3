"""A tiny CLIP trained from scratch: the contrastive (InfoNCE) loss, the model pairing a CNN image encoder with a
GPT-2 text encoder and a learnable temperature, and its training loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zero2hero.errors import InputError
from zero2hero.multimodal.data import ImageTextSet
from zero2hero.multimodal.image_encoder import ImageEncoder
from zero2hero.multimodal.text_encoder import TextEncoder, WordVocabulary
from zero2hero.progress import StepProgress

INITIAL_LOGIT_SCALE = math.log(1 / 0.07)  # CLIP's initial temperature, 0.07
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the learned scale so the temperature stays ≥ 0.01


def contrastive_loss(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor,
                     temperature: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric contrastive (InfoNCE) loss for a batch of matching image–text pairs.

    ``image_embeddings`` and ``text_embeddings`` (batch, d) are the two encoders' outputs, row i of each coming
    from the same pair. Normalise every row to unit length, compute the (batch, batch) similarity matrix
    ``image @ text.T / temperature`` and return the mean of two cross-entropies whose correct class is the
    diagonal: one over each row (image → text) and one over each column (text → image). A scalar tensor.
    """
    # 1. Unit-length rows: the dot product of two rows is then their cosine similarity, in [-1, 1].
    images = F.normalize(image_embeddings, dim=-1)
    texts = F.normalize(text_embeddings, dim=-1)
    # 2. Similarities (batch, batch): entry (i, j) scores image i against text j; a small temperature sharpens them.
    logits = images @ texts.T / temperature
    # 3. Pair i's image belongs with pair i's text: the correct class of row i (and of column i) is i.
    targets = torch.arange(logits.shape[0], device=logits.device)
    # 4. Image -> text: each row is a classification over the batch's texts.
    image_to_text = F.cross_entropy(logits, targets)
    # 5. Text -> image: each column is a classification over the batch's images (rows of the transpose).
    text_to_image = F.cross_entropy(logits.T, targets)
    # 6. Both directions count equally.
    return (image_to_text + text_to_image) / 2


class TinyCLIP(nn.Module):
    """An image encoder and a text encoder into one ``dim``-wide space, and a learned temperature.

    Like CLIP, the model learns ``logit_scale = log(1 / temperature)``, starting at log(1 / 0.07) and clamped to at
    most log(100) (temperature ≥ 0.01) so the logits cannot blow up.
    """

    def __init__(self, vocabulary: WordVocabulary, dim: int = 64) -> None:
        super().__init__()
        self.image_encoder = ImageEncoder(dim)
        self.text_encoder = TextEncoder(vocabulary, dim)
        self.logit_scale = nn.Parameter(torch.tensor(INITIAL_LOGIT_SCALE))

    @property
    def temperature(self) -> torch.Tensor:
        return torch.exp(-self.logit_scale.clamp(0.0, MAX_LOGIT_SCALE))

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """images (b, 3, 32, 32) in [0, 1] -> (b, dim), not normalised."""
        return self.image_encoder(images)

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        """b captions -> (b, dim), not normalised."""
        return self.text_encoder(captions)


@dataclass
class CLIPConfig:
    epochs: int = 15
    batch_size: int = 64
    dim: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.dim < 1 or self.learning_rate <= 0:
            raise InputError(f"CLIP settings out of range: {self}",
                             "use epochs ≥ 1, batch_size ≥ 2 (the loss contrasts pairs), dim ≥ 1, learning_rate > 0")


def train_clip(train: ImageTextSet, config: CLIPConfig,
               progress: StepProgress | None = None) -> tuple[TinyCLIP, list[float]]:
    """Train a :class:`TinyCLIP` on ``train`` with AdamW; return it (in eval mode) and the loss of every step.

    The word vocabulary is built from ``train``'s captions. Each epoch visits the pairs in a new order (from
    ``config.seed``); a last batch of a single pair is dropped (it has nothing to contrast with). Captions shared by
    several images of a batch are contrasted as if different, so the loss cannot reach 0: each such row's best is
    log(number of copies). ``progress(step, total_steps, loss)`` is called after every step.
    """
    torch.manual_seed(config.seed)
    model = TinyCLIP(WordVocabulary(train.captions), config.dim)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    order_generator = torch.Generator().manual_seed(config.seed)
    batches = [b for b in range(0, len(train), config.batch_size) if len(train) - b >= 2]
    total, losses = config.epochs * len(batches), []
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(train), generator=order_generator)
        for start in batches:
            rows = order[start:start + config.batch_size]
            loss = contrastive_loss(model.encode_images(train.images[rows]),
                                    model.encode_texts([train.captions[i] for i in rows.tolist()]), model.temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if progress is not None:
                progress(len(losses), total, losses[-1])
    return model.eval(), losses
