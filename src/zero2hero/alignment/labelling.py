"""Human feedback, literally: show a person a prompt and two responses, record which one they prefer.

The input file holds JSON lines ``{"prompt", "response_a", "response_b"}`` — or is a preference file (``chosen`` and
``rejected`` are then just the two responses, shown in a shuffled order). Each judgement is written at once as a
``PreferencePair(rule="human")`` to the output file, rewritten atomically, so quitting or a crash loses nothing, and
a second run resumes: candidates already judged in the output file are not asked again.

The two responses are shown in an order drawn from the seed and the candidate's position in the file, so the
position of a response says nothing about where it came from, and the same run shows the same order again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zero2hero.alignment.preferences import PreferencePair, load_pairs, read_json_lines, required_text, save_pairs
from zero2hero.errors import InputError

ANSWERS = ("1", "2", "s", "q")
QUESTION = "Which response is better? 1, 2, s (skip) or q (quit): "


@dataclass(frozen=True)
class Candidate:
    """A prompt and two responses waiting for a judgement."""

    prompt: str
    response_a: str
    response_b: str

    def key(self) -> tuple[str, frozenset[str]]:
        """What identifies a judged candidate in the output file: its prompt and its two responses, in any order."""
        return self.prompt, frozenset((self.response_a, self.response_b))


@dataclass(frozen=True)
class LabelSummary:
    """What one labelling run did: judged and skipped in this run, left unjudged after it, and where it wrote."""

    judged: int
    skipped: int
    left: int
    out: Path


def default_out(source: Path) -> Path:
    """``reviews.jsonl`` → ``reviews.labelled.jsonl`` (``.labelled.jsonl`` added to a name without that suffix)."""
    source = Path(source)
    if source.suffix == ".jsonl":
        return source.with_suffix(".labelled.jsonl")
    return source.with_name(source.name + ".labelled.jsonl")


def load_candidates(path: Path) -> list[Candidate]:
    """The candidates of a JSON-lines file of ``{"prompt", "response_a", "response_b"}`` or of preference pairs.

    A malformed line raises :class:`InputError` with one line naming ``file:line`` and the problem.
    """
    candidates = []
    for where, record in read_json_lines(path, "file to label"):
        first, second = ("response_a", "response_b") if "response_a" in record else ("chosen", "rejected")
        fields = ("prompt", first, second)
        prompt, response_a, response_b = (required_text(record, field, where, fields) for field in fields)
        if response_a == response_b:
            raise InputError(f"{where}: the two responses are the same", "give each prompt two different responses")
        candidates.append(Candidate(prompt, response_a, response_b))
    return candidates


def _ask_until_valid(ask: Callable[[str], str], show: Callable[[str], None]) -> str:
    """The person's answer, one of ``ANSWERS``; anything else is refused and asked again. End of input quits."""
    while True:
        try:
            answer = ask(QUESTION).strip().lower()
        except EOFError:
            return "q"
        if answer in ANSWERS:
            return answer
        show(f"{answer!r} is not an answer: type 1 or 2 for the better response, s to skip, q to quit")


def _render(number: int, total: int, prompt: str, first: str, second: str) -> str:
    rule = "─" * 60
    return f"{rule}\n[{number}/{total}] PROMPT\n{prompt}\n\n── 1 ──\n{first}\n\n── 2 ──\n{second}\n{rule}"


def label_pairs(source: Path, out: Path, ask: Callable[[str], str], show: Callable[[str], None],
                seed: int = 0) -> LabelSummary:
    """Ask ``ask`` for a judgement on each candidate of ``source`` not yet in ``out``; return what was done.

    ``show`` receives the text to display (a candidate, a refusal), ``ask`` the question and returns the typed
    answer: ``1`` or ``2`` records a pair whose chosen response is the one shown at that position, ``s`` skips the
    candidate (it is asked again next run), ``q`` or end of input stops. ``out`` is rewritten after each judgement.
    """
    source, out = Path(source), Path(out)
    if source.resolve() == out.resolve():
        raise InputError(f"the output file {out} is the file to label", "pass another --out")
    candidates = load_candidates(source)
    judged_pairs = load_pairs(out) if out.exists() else []
    done = {(pair.prompt, frozenset((pair.chosen, pair.rejected))) for pair in judged_pairs}
    pending = [(index, c) for index, c in enumerate(candidates) if c.key() not in done]
    judged = skipped = 0
    for number, (index, candidate) in enumerate(pending, start=1):
        shown = [candidate.response_a, candidate.response_b]
        random.Random(f"{seed}:{index}").shuffle(shown)  # the order depends on the seed and the line, not the run
        show(_render(number, len(pending), candidate.prompt, *shown))
        answer = _ask_until_valid(ask, show)
        if answer == "q":
            break
        if answer == "s":
            skipped += 1
            continue
        chosen = shown[int(answer) - 1]
        judged_pairs.append(PreferencePair(candidate.prompt, chosen, shown[2 - int(answer)], "human"))
        save_pairs(out, judged_pairs)
        judged += 1
    return LabelSummary(judged=judged, skipped=skipped, left=len(pending) - judged, out=out)
