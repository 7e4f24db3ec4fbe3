"""Automatic scores of a drafted reply, each 0..1 per reply, so two generators are compared item by item.

* token F1 against the reference reply, as SQuAD scores answers: both texts lower-cased, punctuation and the
  articles a/an/the removed, split on white space; F1 of the two bags of words (1 when both are empty);
* tone right: a review labelled ``great`` gets thanks (a word starting with one of :data:`THANKS_STEMS`), any other
  an apology (a word starting with one of :data:`APOLOGY_STEMS`);
* topic addressed: one of the review's topic keywords (from the topic rules) appears in the reply, as whole words;
* length within :data:`MAX_SENTENCES` sentences: one to three pieces ending in ``.``, ``!`` or ``?`` (or the end).

They are proxies: a reply can hit every check and still be poor. The lesson shows replies side by side for that.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from zero2hero.prompting.stats import compare_paired, interval

THANKS_STEMS = ("thank", "grateful", "appreciat")  # thank, thanks, thankful, grateful, appreciate(d)
APOLOGY_STEMS = ("sorry", "apolog", "regret")  # sorry, apologise/apologize/apologies, regret
POSITIVE = "great"  # the sentiment class whose reply thanks
MAX_SENTENCES = 3
SCORES = ("token_f1", "tone", "topic", "length")  # the names of the per-reply scores

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_SENTENCE_END = re.compile(r"[.!?]+(?:\s+|$)")


def normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def word_tokens(text: str) -> list[str]:
    return normalise(text).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's F1 of the shared words (counted with multiplicity) of ``prediction`` and ``reference``."""
    predicted, wanted = word_tokens(prediction), word_tokens(reference)
    if not predicted or not wanted:
        return float(predicted == wanted)
    shared = sum((Counter(predicted) & Counter(wanted)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(wanted)
    return 2 * precision * recall / (precision + recall)


def tone_right(reply: str, sentiment: str) -> bool:
    """Thanks in the reply to a ``great`` review, an apology in the reply to any other."""
    stems = THANKS_STEMS if sentiment == POSITIVE else APOLOGY_STEMS
    return any(word.startswith(stems) for word in word_tokens(reply))


def topic_addressed(reply: str, keywords: Sequence[str]) -> bool:
    """Whether one of ``keywords`` (a word or a phrase) appears in the reply as whole words."""
    text = f" {normalise(reply)} "
    return any(f" {normalise(keyword)} " in text for keyword in keywords if normalise(keyword))


def sentence_count(text: str) -> int:
    """Pieces of ``text`` ending in ., ! or ? (a last piece without one counts too)."""
    return len([piece for piece in _SENTENCE_END.split(text.strip()) if piece.strip()])


def score_reply(reply: str, reference: str, sentiment: str, keywords: Sequence[str]) -> dict[str, float]:
    """The four scores of one reply, each 0.0 or 1.0 but token F1."""
    return {"token_f1": token_f1(reply, reference), "tone": float(tone_right(reply, sentiment)),
            "topic": float(topic_addressed(reply, keywords)),
            "length": float(1 <= sentence_count(reply) <= MAX_SENTENCES)}


def score_replies(replies: Sequence[str], records: Sequence[Mapping[str, Any]],
                  topic_keywords: Mapping[str, Sequence[str]]) -> list[dict[str, float]]:
    """Score each reply against its record ({"reply", "sentiment", "topic"}) with the topic rules' keywords."""
    return [score_reply(reply, str(record["reply"]), str(record["sentiment"]),
                        topic_keywords.get(str(record["topic"]), ())) for reply, record in zip(replies, records,
                                                                                                strict=True)]


def compare_scores(fine_tuned: Sequence[Mapping[str, float]], baseline: Sequence[Mapping[str, float]],
                   seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per score: both means with their bootstrap intervals and the paired comparison fine-tuned − baseline."""
    compared = {}
    for name in SCORES:
        tuned, base = [row[name] for row in fine_tuned], [row[name] for row in baseline]
        paired = compare_paired(base, tuned, seed=seed, names=("prompting", "fine-tuned"))
        compared[name] = {"fine_tuned": _interval(interval(tuned, seed=seed)),
                          "prompting": _interval(interval(base, seed=seed)),
                          "difference": _interval(paired.difference), "p_value": paired.p_value,
                          "significant": paired.significant, "verdict": paired.verdict}
    return compared


def _interval(value: Any) -> dict[str, float]:
    return {"mean": value.mean, "low": value.low, "high": value.high, "n": value.n}
