"""`z2h prefs label`: judgements recorded right whatever the shown order, resumed, skipped, quit; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zero2hero.alignment.labelling import QUESTION, default_out, label_pairs, load_candidates
from zero2hero.alignment.preferences import PreferencePair, load_pairs, save_pairs
from zero2hero.cli import app
from zero2hero.errors import InputError


def write_candidates(path: Path, count: int) -> Path:
    """``count`` candidates whose response_a is always the good one (so a leak of position would show)."""
    rows = [{"prompt": f"What is {i} + 1?", "response_a": f"GOOD {i + 1}", "response_b": f"bad {i + 2}"}
            for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


class Person:
    """A scripted labeller: answers from a list, or picks the position of the response holding ``prefer``."""

    def __init__(self, answers: list[str] | None = None, prefer: str | None = None) -> None:
        self.answers, self.prefer = list(answers or []), prefer
        self.shown: list[str] = []
        self.positions: list[int] = []  # where the preferred response was shown, per candidate

    def show(self, text: str) -> None:
        self.shown.append(text)
        if self.prefer is not None and "── 1 ──" in text:
            first = text.split("── 1 ──\n")[1].split("\n\n── 2 ──")[0]
            self.positions.append(1 if self.prefer in first else 2)

    def ask(self, question: str) -> str:
        assert question == QUESTION
        if self.prefer is not None:
            return str(self.positions[-1])
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    def candidates_seen(self) -> int:
        return sum("── 1 ──" in text for text in self.shown)


def test_the_chosen_text_is_the_one_the_person_picked_whatever_position_it_was_shown_in(tmp_path):
    source, out = write_candidates(tmp_path / "c.jsonl", 8), tmp_path / "out.jsonl"
    person = Person(prefer="GOOD")
    summary = label_pairs(source, out, person.ask, person.show, seed=0)
    assert (summary.judged, summary.skipped, summary.left) == (8, 0, 0)
    assert set(person.positions) == {1, 2}  # the good response was shown first for some, second for others
    pairs = load_pairs(out)
    assert len(pairs) == 8
    for i, pair in enumerate(pairs):
        assert pair == PreferencePair(f"What is {i} + 1?", f"GOOD {i + 1}", f"bad {i + 2}", "human")


def test_always_answering_1_does_not_always_choose_response_a(tmp_path):
    source, out = write_candidates(tmp_path / "c.jsonl", 8), tmp_path / "out.jsonl"
    person = Person(answers=["1"] * 8)
    label_pairs(source, out, person.ask, person.show, seed=0)
    chosen = [pair.chosen.startswith("GOOD") for pair in load_pairs(out)]
    assert any(chosen) and not all(chosen)


def test_the_shown_order_depends_on_the_seed_and_is_the_same_again(tmp_path):
    source = write_candidates(tmp_path / "c.jsonl", 8)
    orders = {}
    for run, seed in enumerate((0, 0, 1)):
        person = Person(prefer="GOOD")
        label_pairs(source, tmp_path / f"out{run}.jsonl", person.ask, person.show, seed=seed)
        orders[run] = person.positions
    assert orders[0] == orders[1] and orders[0] != orders[2]


def test_quit_then_a_second_run_resumes_where_it_stopped(tmp_path):
    source, out = write_candidates(tmp_path / "c.jsonl", 4), tmp_path / "out.jsonl"
    first = Person(answers=["2", "1", "q"])
    summary = label_pairs(source, out, first.ask, first.show)
    assert (summary.judged, summary.skipped, summary.left) == (2, 0, 2)
    assert [pair.prompt for pair in load_pairs(out)] == ["What is 0 + 1?", "What is 1 + 1?"]
    second = Person(answers=["1", "1"])
    summary = label_pairs(source, out, second.ask, second.show)
    assert second.candidates_seen() == 2 and "[1/2] PROMPT\nWhat is 2 + 1?" in second.shown[0]
    assert (summary.judged, summary.left) == (2, 0)
    assert [pair.prompt for pair in load_pairs(out)] == [f"What is {i} + 1?" for i in range(4)]


def test_a_skipped_candidate_is_not_recorded_and_comes_back_next_run(tmp_path):
    source, out = write_candidates(tmp_path / "c.jsonl", 3), tmp_path / "out.jsonl"
    person = Person(answers=["s", "1", "s"])
    summary = label_pairs(source, out, person.ask, person.show)
    assert (summary.judged, summary.skipped, summary.left) == (1, 2, 2)
    assert [pair.prompt for pair in load_pairs(out)] == ["What is 1 + 1?"]
    again = Person(answers=[])
    label_pairs(source, out, again.ask, again.show)  # end of input: quits at the first question
    assert "What is 0 + 1?" in again.shown[0]


def test_an_invalid_keypress_is_refused_and_asked_again(tmp_path):
    source, out = write_candidates(tmp_path / "c.jsonl", 1), tmp_path / "out.jsonl"
    person = Person(answers=["x", "", "3", " 2 "])
    summary = label_pairs(source, out, person.ask, person.show)
    assert summary.judged == 1 and len(load_pairs(out)) == 1
    refusals = [text for text in person.shown if "is not an answer" in text]
    assert len(refusals) == 3 and refusals[0].startswith("'x' is not an answer")


def test_a_preference_file_can_be_labelled(tmp_path):
    source, out = tmp_path / "pairs.jsonl", tmp_path / "out.jsonl"
    save_pairs(source, [PreferencePair(f"Say {w}.", w, f"{w}!!", "concise") for w in ("hi", "yes", "no", "ok")])
    person = Person(prefer="!!")
    label_pairs(source, out, person.ask, person.show, seed=2)
    assert [pair.chosen for pair in load_pairs(out)] == ["hi!!", "yes!!", "no!!", "ok!!"]


def test_default_out_and_refusing_to_overwrite_the_source(tmp_path):
    assert default_out(Path("data/reviews.jsonl")) == Path("data/reviews.labelled.jsonl")
    assert default_out(Path("data/reviews")) == Path("data/reviews.labelled.jsonl")
    source = write_candidates(tmp_path / "c.jsonl", 1)
    with pytest.raises(InputError, match="is the file to label"):
        label_pairs(source, source, input, print)


def test_two_equal_responses_are_an_error_naming_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"prompt": "p", "response_a": "same", "response_b": "same"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{path}:1: the two responses are the same"):
        load_candidates(path)


def test_cli_labels_and_prints_a_summary(tmp_path):
    source = write_candidates(tmp_path / "c.jsonl", 3)
    result = CliRunner().invoke(app, ["prefs", "label", str(source)], input="1\nz\n2\nq\n")
    assert result.exit_code == 0, result.output
    assert "judged 2, skipped 0, left 1" in result.output
    assert "'z' is not an answer" in result.output
    assert len(load_pairs(tmp_path / "c.labelled.jsonl")) == 2


def test_cli_malformed_file_is_one_line_and_exit_1(tmp_path):
    source = tmp_path / "c.jsonl"
    source.write_text('{"prompt": "p", "response_a": "a", "response_b": "b"}\n{"prompt": "p"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["prefs", "label", str(source)], input="1\n")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{source}:2: not valid JSON" in lines[0] and "Traceback" not in result.output


def test_cli_build_writes_rule_made_pairs(tmp_path):
    out = tmp_path / "pairs.jsonl"
    result = CliRunner().invoke(app, ["prefs", "build", str(out), "--per-template", "2"])
    assert result.exit_code == 0, result.output
    pairs = load_pairs(out)
    assert len(pairs) == 40 and "wrote 40 pairs" in result.output
    assert {pair.rule for pair in pairs} <= {"correct", "format", "concise"}
    bad = CliRunner().invoke(app, ["prefs", "build", str(out), "--per-template", "0"])
    assert bad.exit_code == 1 and "per_template must be" in bad.output
