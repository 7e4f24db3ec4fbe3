"""A cleaning pipeline: named steps applied in order, with a trace of what each step changed."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from zero2hero.text import normalize as n

Step = Callable[[str], str]

# Above this size the per-step diff (quadratic in the worst case) is skipped; only sizes are reported.
_MAX_DIFF_CHARS = 200_000


@dataclass
class StepChange:
    """What one step did: sizes before/after, how many separate edits, and a few examples."""

    step: str
    chars_before: int
    chars_after: int
    edits: int  # number of changed regions (-1 when the text was too long to diff)
    examples: list[tuple[str, str]] = field(default_factory=list)  # (before, after) snippets


@dataclass
class CleaningPipeline:
    """Named ``str -> str`` steps. ``clean`` applies them; ``trace`` also records what each one changed."""

    steps: list[tuple[str, Step]]

    def clean(self, text: str) -> str:
        for _, step in self.steps:
            text = step(text)
        return text

    def trace(self, text: str, max_examples: int = 3) -> tuple[str, list[StepChange]]:
        changes = []
        for name, step in self.steps:
            after = step(text)
            changes.append(_describe_change(name, text, after, max_examples))
            text = after
        return text, changes


def _describe_change(name: str, before: str, after: str, max_examples: int) -> StepChange:
    change = StepChange(name, len(before), len(after), 0)
    if before == after:
        return change
    if max(len(before), len(after)) > _MAX_DIFF_CHARS:
        change.edits = -1
        return change
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        change.edits += 1
        if len(change.examples) < max_examples:
            # A little context on both sides makes the example readable.
            change.examples.append((before[max(0, i1 - 8):i2 + 8], after[max(0, j1 - 8):j2 + 8]))
    return change


def default_pipeline(language: str = "en", placeholders: bool = True) -> CleaningPipeline:
    """The chapter's pipeline, in an order where each step sees what it expects.

    HTML goes first (entities hide characters the later steps look for); URLs and e-mails are replaced
    before lower-casing and punctuation removal would break them apart; white space is tidied last.
    """
    steps: list[tuple[str, Step]] = [
        ("strip HTML", n.strip_html),
        ("Unicode NFKC", n.normalize_unicode),
        ("join hyphenated lines", n.join_hyphenated_lines),
    ]
    if placeholders:
        steps += [("replace URLs", n.replace_urls), ("replace e-mails", n.replace_emails),
                  ("replace emoji", n.replace_emoji), ("replace numbers", n.replace_numbers)]
    steps += [
        ("lowercase", lambda t: n.lowercase(t, language)),
        ("strip accents", n.strip_accents),
        ("remove punctuation", n.remove_punctuation),
        ("normalise white space", n.normalize_whitespace),
    ]
    return CleaningPipeline(steps)
