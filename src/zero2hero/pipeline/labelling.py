"""The documented rules that label the reviews: a topic by ordered keyword rules, a reference reply by templates.

Topic rules (``rules/topics.yaml``): a list of ``{topic, keywords}`` and a ``fallback``; a review gets the topic of
the first rule one of whose keywords it contains as a whole word (any case), else the fallback. Reply templates
(``rules/replies.yaml``): ``{sentiment: {topic: [variant, ...]}}`` with ``default`` standing in for a sentiment or
topic the file does not name; the variant is chosen by the SHA-256 of the review's id, so the same review always
gets the same reply and the variants are spread evenly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zero2hero.errors import InputError
from zero2hero.pipeline.config import BUILTIN_RULES
from zero2hero.text.io import read_text_file

RULES_FOLDER = Path(__file__).parent / "rules"
DEFAULT = "default"


@dataclass(frozen=True)
class TopicRule:
    topic: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class TopicRules:
    rules: tuple[TopicRule, ...]
    fallback: str

    @property
    def topics(self) -> list[str]:
        """Every topic the rules can give, in rule order, the fallback last."""
        return [rule.topic for rule in self.rules] + [self.fallback]

    def topic_of(self, text: str) -> str:
        for rule in self.rules:
            if rule.pattern.search(text):
                return rule.topic
        return self.fallback


def rules_path(setting: str, kind: str) -> Path:
    """The built-in rules file of ``kind`` ("topics" or "replies") or the user's own file."""
    return RULES_FOLDER / f"{kind}.yaml" if setting == BUILTIN_RULES else Path(setting)


def _read_yaml(path: Path, shape: str) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: no such rules file", f"write a YAML file of {shape}, or use builtin")
    try:
        return yaml.safe_load(read_text_file(path))
    except yaml.YAMLError as err:
        raise InputError(f"{path} is not valid YAML: {err}".replace("\n", " "), "fix the file's syntax") from None


def load_topic_rules(path: Path) -> TopicRules:
    """The ordered topic rules of ``path``; :class:`InputError` when a rule lacks a topic or keywords."""
    shape = "`fallback: general` and `rules: [{topic: taste, keywords: [taste, flavor]}, ...]`"
    document = _read_yaml(path, shape)
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list) or not document.get("fallback"):
        raise InputError(f"{path} has no `rules:` list or no `fallback:`", f"write {shape}")
    rules = []
    for number, rule in enumerate(document["rules"], 1):
        keywords = rule.get("keywords") if isinstance(rule, dict) else None
        if not isinstance(rule, dict) or not rule.get("topic") or not keywords or not isinstance(keywords, list):
            raise InputError(f"rule {number} of {path} needs a topic and a list of keywords", f"write {shape}")
        words = tuple(str(word).lower() for word in keywords)
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(word) for word in words) + r")\b", re.IGNORECASE)
        rules.append(TopicRule(str(rule["topic"]), words, pattern))
    return TopicRules(tuple(rules), str(document["fallback"]))


def load_reply_templates(path: Path) -> dict[str, dict[str, list[str]]]:
    """``{sentiment: {topic: [variant, ...]}}`` of ``path``; each variant a non-empty text."""
    shape = "`great: {taste: [\"Thank you ...\"], ...}, other: {...}, default: {default: [...]}`"
    document = _read_yaml(path, shape)
    if not isinstance(document, dict) or not document:
        raise InputError(f"{path} holds no reply templates", f"write {shape}")
    for sentiment, topics in document.items():
        if not isinstance(topics, dict) or not topics:
            raise InputError(f"the replies for {sentiment!r} in {path} are not a mapping of topics", f"write {shape}")
        for topic, variants in topics.items():
            if not isinstance(variants, list) or not variants or not all(isinstance(v, str) and v.strip()
                                                                         for v in variants):
                raise InputError(f"{path}: {sentiment}.{topic} is not a list of reply texts", f"write {shape}")
    return {str(s): {str(t): [v.strip() for v in vs] for t, vs in topics.items()} for s, topics in document.items()}


def reply_for(templates: dict[str, dict[str, list[str]]], review_id: str, sentiment: str, topic: str) -> str:
    """The reference reply: the variant for (sentiment, topic), ``default`` standing in, picked by the id's hash."""
    by_topic = templates.get(sentiment) or templates.get(DEFAULT)
    variants = (by_topic or {}).get(topic) or (by_topic or {}).get(DEFAULT)
    if not variants:
        raise InputError(f"the reply templates have none for sentiment {sentiment!r} and topic {topic!r}",
                         f"add {sentiment}: {{{topic}: [...]}} or a `default` entry to your replies file")
    index = int(hashlib.sha256(review_id.encode("utf-8")).hexdigest(), 16) % len(variants)
    return variants[index]
