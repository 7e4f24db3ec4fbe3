"""Chain-of-thought prompting and self-consistency.

A chain-of-thought prompt asks the model to write its reasoning before the answer (Wei et al. 2022); the answer is
then read from a fixed last line. Self-consistency (Wang et al. 2023) samples several chains at a temperature above
0 and takes the most frequent answer: a wrong step in one chain is outvoted when most chains reach the same number.
How many chains agree (:func:`agreement`) is a measure of the model's confidence in that answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from zero2hero.errors import InputError
from zero2hero.prompting.functional import majority_vote

COT_INSTRUCTION = ("Think step by step: write your reasoning, one short step per line, then finish with a last line "
                   "of the form 'Answer: <number>'.")
DIRECT_INSTRUCTION = "Reply with the answer only, as a line of the form 'Answer: <number>'."


def self_consistency(generate: Callable[[int], str], n: int,
                     extract: Callable[[str], str | None]) -> tuple[str | None, list[str]]:
    """Sample ``n`` chains (``generate(seed)`` for seeds 0..n-1) and return the majority answer and the chains.

    ``extract`` reads one chain's answer (None when it has none); chains without an answer do not vote, and a tie
    goes to the answer reached first (:func:`~zero2hero.prompting.functional.majority_vote`).
    """
    if n < 1:
        raise InputError(f"self-consistency needs at least one chain, got n={n}", "sample n ≥ 1 chains, e.g. 5")
    chains = [generate(seed) for seed in range(n)]
    return majority_vote([extract(chain) for chain in chains]), chains


def agreement(answers: Sequence[str | None]) -> float:
    """Share of all chains whose answer is the majority answer: 1.0 when all agree; 0.0 when no chain has an answer.

    Chains without an answer count in the denominator: a model that rarely finishes with an answer is not confident.
    """
    if not answers:
        raise InputError("agreement of no answers", "pass the answers of at least one chain")
    majority = majority_vote(answers)
    return 0.0 if majority is None else sum(answer == majority for answer in answers) / len(answers)
