"""The tiny CLIP: the contrastive loss against a by-hand computation, the encoders' contracts (bad images give one
line), and a short training run that beats chance on the pairs it saw."""

from __future__ import annotations

import math

import pytest
import torch

from zero2hero.errors import InputError
from zero2hero.multimodal import data
from zero2hero.multimodal.clip import CLIPConfig, TinyCLIP, contrastive_loss, train_clip
from zero2hero.multimodal.image_encoder import ImageEncoder
from zero2hero.multimodal.retrieval import chance_recall, retrieval_recall
from zero2hero.multimodal.scenes import Scene
from zero2hero.multimodal.text_encoder import TextEncoder, WordVocabulary

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def loss_by_hand(images: torch.Tensor, texts: torch.Tensor, temperature: float) -> float:
    """The same loss with plain Python loops: cosine similarities, then −log softmax of the diagonal per row and
    per column, each direction averaged, the two directions averaged."""
    n = len(images)
    unit_i = [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in images.tolist()]
    unit_t = [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in texts.tolist()]
    s = [[sum(a * b for a, b in zip(unit_i[i], unit_t[j], strict=True)) / temperature for j in range(n)]
         for i in range(n)]
    rows = [-s[i][i] + math.log(sum(math.exp(s[i][j]) for j in range(n))) for i in range(n)]
    columns = [-s[j][j] + math.log(sum(math.exp(s[i][j]) for i in range(n))) for j in range(n)]
    return (sum(rows) / n + sum(columns) / n) / 2


def test_contrastive_loss_equals_a_by_hand_computation():
    torch.manual_seed(0)
    images, texts = torch.randn(6, 5), torch.randn(6, 5)
    for temperature in (1.0, 0.07):
        assert contrastive_loss(images, texts, temperature).item() == pytest.approx(
            loss_by_hand(images, texts, temperature), rel=1e-5)


def test_contrastive_loss_properties():
    aligned = torch.eye(8) * 3.0  # pair i is the same direction on both sides, far from every other pair
    assert contrastive_loss(aligned, aligned * 0.5, 0.01).item() < 1e-6
    torch.manual_seed(1)
    texts = torch.randn(8, 16)
    images = texts + 0.1 * torch.randn(8, 16)
    matched = contrastive_loss(images, texts, 0.1).item()
    shuffled = contrastive_loss(images, texts[torch.roll(torch.arange(8), 1)], 0.1).item()
    assert shuffled > matched + 1.0
    temperature = torch.tensor(0.5, requires_grad=True)
    contrastive_loss(images, texts, temperature).backward()
    assert temperature.grad is not None and temperature.grad.item() != 0.0


def test_image_encoder_shapes_and_bad_images():
    encoder = ImageEncoder(dim=24)
    assert encoder(torch.rand(2, 3, 32, 32)).shape == (2, 24)
    assert encoder.feature_map(torch.rand(2, 3, 32, 32)).shape == (2, 64, 4, 4)
    for bad, got in ((torch.rand(2, 3, 28, 28), r"\(2, 3, 28, 28\)"), (torch.rand(2, 1, 32, 32), r"\(2, 1, 32, 32\)"),
                     (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "uint8")):
        with pytest.raises(InputError, match=got) as error:
            encoder(bad)
        message = str(error.value)
        assert "expected (batch, 3, 32, 32)" in message and "\n" not in message


def test_text_encoder_runs_gpt2_modules_and_ignores_the_batch():
    vocabulary = WordVocabulary(["a red circle on the left", "a handwritten seven"])
    encoder = TextEncoder(vocabulary, dim=16, max_words=8).eval()
    ids = vocabulary.encode(["a red circle"], 8)
    assert ids.tolist() == [[vocabulary.ids["a"], vocabulary.ids["red"], vocabulary.ids["circle"], 0, 0, 0, 0, 0]]
    with torch.no_grad():
        # The hidden states are GPT-2's own: its tied head applied to them gives its logits.
        logits, _ = encoder.gpt2(ids)
        assert torch.allclose(encoder.hidden_states(ids) @ encoder.gpt2.wte.weight.T, logits, atol=1e-5)
        alone = encoder(["a red circle"])
        together = encoder(["a handwritten seven", "a red circle on the left", "a red circle"])
    assert together.shape == (3, 16) and torch.allclose(alone[0], together[2], atol=1e-6)
    assert vocabulary.encode(["a purple circle"], 8)[0, 1].item() == vocabulary.ids["[UNK]"]
    with pytest.raises(InputError, match="has 9 words, expected 1 to 8"):
        encoder(["a b c d e f g h i"])


def test_temperature_starts_as_clip_and_is_clamped():
    model = TinyCLIP(WordVocabulary(["a red circle"]), dim=8)
    assert model.temperature.item() == pytest.approx(0.07)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.temperature.item() == pytest.approx(0.01)


def test_short_training_learns_the_pairs_it_saw():
    scenes = [Scene(shape, colour, position) for shape, colour in (("circle", "red"), ("square", "blue"))
              for position in ("left", "right", "top")]
    train = data.scene_set(scenes, per_scene=4, seed=0)
    model, losses = train_clip(train, CLIPConfig(epochs=20, batch_size=12, dim=32, seed=0))
    assert len(losses) == 20 * 2 and sum(losses[-3:]) < 0.6 * sum(losses[:3])
    recall = retrieval_recall(model, train.images, train.captions, ks=(1,))
    chance = chance_recall(train.captions, ks=(1,))
    assert recall["image_to_text@1"] > 3 * chance["image_to_text@1"], (recall, chance)


def test_bad_config_is_one_clear_line():
    with pytest.raises(InputError, match="CLIP settings out of range"):
        CLIPConfig(batch_size=1)
