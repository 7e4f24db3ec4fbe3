"""Self-consistency takes the majority answer of sampled chains (chains without an answer do not vote), and
agreement is the share of all chains that reached it."""

from __future__ import annotations

import pytest

from zero2hero.errors import InputError
from zero2hero.prompting.chain_of_thought import COT_INSTRUCTION, DIRECT_INSTRUCTION, agreement, self_consistency
from zero2hero.prompting.functional import extract_number

CHAINS = ["3 apples plus 4 apples.\nAnswer: 7", "3 + 4 = 8\nAnswer: 8", "I am not sure.",
          "Three and four make seven.\nAnswer: 7", "4 + 3 = 7, so the answer is 7"]


def test_the_majority_of_sampled_chains_wins():
    seeds = []

    def generate(seed: int) -> str:
        seeds.append(seed)
        return CHAINS[seed]

    answer, chains = self_consistency(generate, 5, extract_number)
    assert answer == "7" and chains == CHAINS and seeds == [0, 1, 2, 3, 4]
    assert agreement([extract_number(c) for c in chains]) == pytest.approx(3 / 5)  # the unanswered chain counts


def test_one_wrong_chain_is_outvoted_but_a_tie_goes_to_the_first():
    assert self_consistency(lambda seed: ["Answer: 5", "Answer: 6", "Answer: 5"][seed], 3, extract_number)[0] == "5"
    assert self_consistency(lambda seed: ["Answer: 6", "Answer: 5"][seed], 2, extract_number)[0] == "6"


def test_no_answer_at_all():
    answer, chains = self_consistency(lambda seed: "no idea", 3, extract_number)
    assert answer is None and len(chains) == 3
    assert agreement([None, None]) == 0.0
    assert agreement(["4", "4"]) == 1.0


def test_bad_counts_are_refused():
    with pytest.raises(InputError, match="at least one chain"):
        self_consistency(lambda seed: "Answer: 1", 0, extract_number)
    with pytest.raises(InputError, match="at least one chain"):
        agreement([])


def test_the_instructions_ask_for_the_answer_line_the_extractor_reads():
    assert "step by step" in COT_INSTRUCTION and "Answer: <number>" in COT_INSTRUCTION
    assert "Answer: <number>" in DIRECT_INSTRUCTION
    assert extract_number("Reasoning 1 and 2.\n" + "Answer: <number>".replace("<number>", "12")) == "12"
