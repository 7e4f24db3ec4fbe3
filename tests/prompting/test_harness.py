"""The evaluation harness: label words scored as the assistant's reply, the shared prefix cached without changing any
record, calibration, self-consistency, and its one-line errors. A tiny random LLaMA with SmolLM2's tokenizer."""

from __future__ import annotations

import math

import pytest

from tests.prompting.tiny_chat_lm import write_tiny_chat_lm
from zero2hero.errors import InputError
from zero2hero.prompting.engines import load_engine
from zero2hero.prompting.fewshot import ShotSelector
from zero2hero.prompting.functional import majority_vote
from zero2hero.prompting.harness import Condition, label_token_ids, run_condition, shared_prefix
from zero2hero.prompting.label_scoring import decide
from zero2hero.prompting.promptset import prompt_set_from_dict
from zero2hero.prompting.render import prompt_ids, prompt_messages
from zero2hero.prompting.scoring import score_output

pytestmark = pytest.mark.usefixtures("one_thread_per_module")
REVIEWS = [("Lovely tea, fresh and fragrant.", "great"), ("Stale and broken on arrival.", "other"),
           ("The best cookies I have had.", "great"), ("Too sweet, would not buy again.", "other"),
           ("My kids ask for these every day.", "great"), ("Bland and overpriced.", "other")]
POOL = [("Wonderful coffee, rich taste.", "great"), ("Arrived melted.", "other"), ("Perfect snack.", "great"),
        ("Tasted of plastic.", "other")]


def sentiment_set(items=REVIEWS):
    return prompt_set_from_dict({
        "name": "mini-sentiment", "kind": "label", "description": "six reviews", "system": "You classify reviews.",
        "templates": {"plain": "Review: {review}\nSentiment (positive or negative):"},
        "labels": ["great", "other"], "label_words": {"great": "positive", "other": "negative"}, "max_new_tokens": 4,
        "items": [{"id": f"r{i}", "review": text, "reference": label} for i, (text, label) in enumerate(items)],
        "pool": [{"review": text, "answer": label} for text, label in POOL]})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return load_engine("hf", str(write_tiny_chat_lm(tmp_path_factory.mktemp("tiny") / "model")))


def test_label_words_are_the_tokens_of_the_assistants_reply(engine) -> None:
    """After the chat template's assistant header the reply starts a line: "positive" without a leading space is
    exactly what the tokenizer makes of the whole conversation with that reply."""
    ps = sentiment_set()
    labels = label_token_ids(engine.tokenizer, ps)
    messages = prompt_messages(ps, ps.items[0], ps.pool[:2])
    ids = prompt_ids(engine.tokenizer, messages)
    for label, label_ids in zip(ps.labels, labels, strict=True):
        conversation = engine.tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": ps.label_words[label]}], tokenize=True, return_dict=False)
        assert list(conversation[:len(ids) + len(label_ids)]) == ids + label_ids
    with_space = [engine.tokenizer.encode(" " + ps.label_words[label], add_special_tokens=False) for label in ps.labels]
    assert with_space != labels  # the question matters: " positive" is another token


def test_shared_prefix_is_the_longest_common_beginning() -> None:
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 9, 9], [1, 2, 5]]) == [1, 2]
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == [1, 2]  # never the whole of a prompt
    assert shared_prefix([[7, 8]]) == [7]


def test_logprob_records_with_and_without_the_prefix_cache(engine) -> None:
    ps = sentiment_set()
    condition = Condition(shots=4, scoring="logprob")
    cached = run_condition(engine, ps, ps.items, condition)
    plain = run_condition(engine, ps, ps.items, condition, cache_prefix=False)
    assert cached.prefix_tokens > 40 and plain.prefix_tokens == 0
    labels = label_token_ids(engine.tokenizer, ps)
    shots = ShotSelector(ps, "random", seed=0).select(ps.items[0], 4)
    for item, a, b in zip(ps.items, cached.records, plain.records, strict=True):
        ids = prompt_ids(engine.tokenizer, prompt_messages(ps, item, shots))
        assert a.prompt_tokens == len(ids) and a.prompt == engine.tokenizer.decode(ids)
        assert a.label_log_probs == pytest.approx(engine.continuation_log_probs(ids, labels), abs=1e-4)
        assert a.label_log_probs == pytest.approx(b.label_log_probs, abs=1e-4)
        chosen = ps.labels[decide([a.label_log_probs])[0]]
        assert a.scored.answer == b.scored.answer == chosen and a.output == ps.label_words[chosen]
        assert a.scored.correct == (chosen == item.reference)
    assert cached.accuracy().mean == sum(r.scored.correct for r in cached.records) / len(ps.items)
    assert cached.parse_rate().mean == 1.0 and cached.examples_per_s > 0


def test_calibration_subtracts_the_content_free_bias(engine) -> None:
    ps = sentiment_set()
    result = run_condition(engine, ps, ps.items, Condition(shots=2, scoring="logprob", calibration=True))
    assert result.calibration is not None and len(result.calibration) == 2
    assert math.fsum(math.exp(v) for v in result.calibration) == pytest.approx(1.0)  # log of mean probabilities
    for record in result.records:
        assert record.scored.answer == ps.labels[decide([record.label_log_probs], result.calibration)[0]]


def test_generate_and_self_consistency_records(engine) -> None:
    ps = sentiment_set(REVIEWS[:3])
    result = run_condition(engine, ps, ps.items, Condition(shots=2))
    for item, record in zip(ps.items, result.records, strict=True):
        ids = prompt_ids(engine.tokenizer, prompt_messages(ps, item, ShotSelector(ps, "random").select(item, 2)))
        assert record.output == engine.tokenizer.decode(engine.generate(ids, 4), skip_special_tokens=True)
        assert record.scored == score_output(ps, item, record.output) and record.label_log_probs is None
    voted = run_condition(engine, ps, ps.items, Condition(samples=3, temperature=0.9, seed=1))
    for item, record in zip(ps.items, voted.records, strict=True):
        assert len(record.chains) == 3 and record.output in record.chains
        assert record.scored.answer == majority_vote([score_output(ps, item, c).answer for c in record.chains])
    assert voted.condition.name == "default 0-shot sc3@T0.9 generate"  # the set's first template


def test_bad_conditions_and_prompts_are_clear_errors(engine) -> None:
    with pytest.raises(InputError, match="temperature"):
        Condition(samples=3)
    with pytest.raises(InputError, match="nothing is generated"):
        Condition(scoring="logprob", cot=True)
    with pytest.raises(InputError, match="calibration"):
        Condition(calibration=True)
    with pytest.raises(InputError, match="unknown scoring"):
        Condition(scoring="vote")
    ps = sentiment_set([(" ".join(["tea"] * 2500), "great"), ("Fine.", "other")])
    with pytest.raises(InputError, match=r"item 'r0': the prompt is \d+ tokens, \d+ over the context of 2048"):
        run_condition(engine, ps, ps.items, Condition())
    with pytest.raises(InputError, match="no items"):
        run_condition(engine, ps, [], Condition())
