"""The LLaVA-style captioner on a tiny LLaMA with SmolLM2's tokenizer and chat template: the cached start gives the
same loss as the LM's own loss on the whole sequence, only the projection trains, the loss falls, greedy generation
with the KV cache equals recomputing everything, and captions are scored attribute by attribute."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.errors import InputError
from zero2hero.multimodal import data
from zero2hero.multimodal.captioner import (
    IGNORE_INDEX,
    Captioner,
    CaptionerConfig,
    attribute_accuracy,
    generate_captions,
    train_captioner,
)
from zero2hero.multimodal.clip import TinyCLIP
from zero2hero.multimodal.scenes import Scene
from zero2hero.multimodal.text_encoder import WordVocabulary

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def tiny_lm_folder(tmp_path_factory):
    return write_tiny_generator_base(tmp_path_factory.mktemp("captioner") / "tiny-llama")


@pytest.fixture(scope="module")
def scenes() -> data.ImageTextSet:
    chosen = [Scene("circle", "red", "left"), Scene("square", "blue", "top"), Scene("triangle", "green", "right"),
              Scene("circle", "yellow", "bottom")]
    return data.scene_set(chosen, per_scene=2, seed=0)


@pytest.fixture(scope="module")
def clip(scenes) -> TinyCLIP:
    torch.manual_seed(0)
    return TinyCLIP(WordVocabulary(scenes.captions), dim=16).eval()


def new_captioner(folder, clip: TinyCLIP, prefix_tokens: int = 3) -> Captioner:
    from zero2hero.assets import load_causal_lm

    torch.manual_seed(0)
    lm, tokenizer = load_causal_lm(str(folder))
    return Captioner(copy.deepcopy(clip.image_encoder), lm, tokenizer, prefix_tokens, hidden=32)


def test_prompt_split_and_loss_equal_the_lm_on_the_whole_sequence(tiny_lm_folder, clip, scenes):
    captioner = new_captioner(tiny_lm_folder, clip)
    chat = captioner.tokenizer.apply_chat_template([{"role": "user", "content": "Describe the image."}],
                                                   add_generation_prompt=True, tokenize=True, return_dict=True)
    assert captioner.head_ids.tolist() + captioner.tail_ids.tolist() == chat["input_ids"]
    features = captioner.image_features(scenes.images[:3])
    request = captioner.request_embeddings(features)
    assert request.shape == (3, 3 + len(captioner.tail_ids), 64)
    captions = scenes.captions[:3]
    ids, labels = captioner.caption_ids(captions)
    embed = captioner.lm.get_input_embeddings()
    whole = torch.cat([embed(captioner.head_ids).expand(3, -1, -1), request, embed(ids)], dim=1)
    before = whole.shape[1] - ids.shape[1]
    whole_labels = torch.cat([torch.full((3, before), IGNORE_INDEX), labels], dim=1)
    mask = torch.cat([torch.ones(3, before, dtype=torch.long), (labels != IGNORE_INDEX).long()], dim=1)
    expected = captioner.lm(inputs_embeds=whole, attention_mask=mask, labels=whole_labels).loss
    assert captioner.loss(features, captions).item() == pytest.approx(expected.item(), rel=1e-5)


def test_only_the_projection_trains(tiny_lm_folder, clip, scenes):
    from zero2hero.assets import load_causal_lm

    captioner, losses = train_captioner(clip, scenes, CaptionerConfig(steps=2, batch_size=4, hidden=32,
                                                                      lm=str(tiny_lm_folder)))
    assert len(losses) == 2
    fresh, _ = load_causal_lm(str(tiny_lm_folder))
    for name, weight in fresh.state_dict().items():
        assert torch.equal(captioner.lm.state_dict()[name], weight), name
    for name, weight in clip.image_encoder.state_dict().items():
        assert torch.equal(captioner.image_encoder.state_dict()[name], weight), name
    trainable = {name for name, p in captioner.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("projection.") for name in trainable)
    assert all(p.requires_grad for p in clip.parameters())  # the CLIP given is left as it was


def test_the_loss_falls_on_a_tiny_set(tiny_lm_folder, clip, scenes):
    # A random tiny LM's logits are nearly flat (loss ≈ log 49,152 ≈ 10.80), so even a perfect prefix moves the loss
    # only a little; the real LM's drop is measured in the heavy test below.
    _, losses = train_captioner(clip, scenes, CaptionerConfig(steps=12, batch_size=8, hidden=32, learning_rate=0.1,
                                                              lm=str(tiny_lm_folder)))
    assert losses[-1] < losses[0] - 0.04 and losses[-1] < min(losses[:3]), losses


def test_greedy_generation_with_cache_equals_recomputing(tiny_lm_folder, clip, scenes):
    captioner = new_captioner(tiny_lm_folder, clip).eval()
    images = scenes.images[:3]
    captions = generate_captions(captioner, images, max_new_tokens=6)
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    embed = captioner.lm.get_input_embeddings()
    with torch.no_grad():
        sequence = torch.cat([embed(captioner.head_ids).expand(3, -1, -1),
                              captioner.request_embeddings(captioner.image_features(images))], dim=1)
        new = []
        for _ in range(6):  # no cache: the whole sequence again at every step
            token = captioner.lm(inputs_embeds=sequence).logits[:, -1].argmax(-1)
            new.append(token)
            sequence = torch.cat([sequence, embed(token)[:, None]], dim=1)
    eos = captioner.tokenizer.eos_token_id
    expected = []
    for row in torch.stack(new, 1).tolist():
        row = row[:row.index(eos)] if eos in row else row
        expected.append(captioner.tokenizer.decode(row, skip_special_tokens=True).strip())
    assert captions == expected


def test_wrong_images_are_one_clear_line(tiny_lm_folder, clip):
    captioner = new_captioner(tiny_lm_folder, clip)
    with pytest.raises(InputError, match=r"images of shape \(2, 3, 64, 64\).*expected \(batch, 3, 32, 32\)") as error:
        generate_captions(captioner, torch.rand(2, 3, 64, 64))
    assert "\n" not in str(error.value)


def test_attribute_accuracy_on_hand_written_captions():
    truth = [{"shape": "circle", "colour": "red", "position": "left"},
             {"shape": "square", "colour": "blue", "position": "top"},
             {"shape": "triangle", "colour": "green", "position": "bottom"},
             {"shape": "circle", "colour": "yellow", "position": "right"}]
    captions = ["A red circle on the left.",  # all right (case and punctuation ignored)
                "a blue square at the bottom",  # wrong position
                "a green or red triangle at the bottom",  # two colours named: the colour counts as wrong
                "a yellow squares on the right"]  # "squares" is not "circle": wrong shape
    assert attribute_accuracy(captions, truth) == {"shape": 0.75, "colour": 0.75, "position": 0.75, "all": 0.25}
    assert attribute_accuracy(["a handwritten seven"], [{"digit": "seven"}]) == {"digit": 1.0, "all": 1.0}
    with pytest.raises(InputError, match="same known keys"):
        attribute_accuracy(["a red circle"], [{"size": "big"}])


def test_bad_config_is_one_clear_line():
    with pytest.raises(InputError, match="captioner settings out of range"):
        CaptionerConfig(prefix_tokens=0)


@pytest.mark.heavy
def test_smollm2_captioner_runs_in_its_embedding_space(clip, scenes):
    captioner, losses = train_captioner(clip, scenes, CaptionerConfig(steps=10, batch_size=4, learning_rate=5e-3))
    assert captioner.width == 576 and len(losses) == 10 and max(losses[-3:]) < min(losses[:3]) - 1.0, losses
    captions = generate_captions(captioner, scenes.images[:2], max_new_tokens=4)
    assert len(captions) == 2 and all(isinstance(c, str) and c for c in captions)
