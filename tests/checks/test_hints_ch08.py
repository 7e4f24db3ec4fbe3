"""Chapter 8: each exercise check, fed a deliberately wrong solution for a common mistake, names that mistake.

Each wrong solution is the reference module (zero2hero/prompting/functional.py) with one line changed the way a
learner might get it wrong. A few right solutions written differently (another random generator, another seed) must
pass, which shows the bootstrap check's tolerance is not tighter than its Monte-Carlo error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from tests.checks.mutation import failure_message
from tests.exercises import test_ch08_exercises as ch8
from zero2hero.checks.feedback import one_thread
from zero2hero.prompting import functional

SOURCE = inspect.getsource(functional)


def _changed(old: str, new: str) -> SimpleNamespace:
    """The reference functions, from a copy of their module with ``old`` replaced by ``new``."""
    assert SOURCE.count(old) == 1, f"the reference no longer holds {old!r}"
    namespace = {"__name__": functional.__name__}
    exec(compile(SOURCE.replace(old, new), functional.__file__, "exec"), namespace)
    return SimpleNamespace(**{name: namespace[name] for name in ch8.REFERENCE})



PARTS = "parts: list[str] = []  # pieces of the result, joined once at the end"
IN_TURN = ("for name, value in values.items():\n        template = template.replace('{' + name + '}', str(value))\n"
           "    return template<tail>\n    " + PARTS)
MISSING = ('raise InputError(f"the template uses {{{name}}} but no value is given for {name!r}",\n'
           '                                 f"give a value for {name!r} '
           "(given: {', '.join(sorted(values)) or 'none'})\")")
SHOT = ('messages.append({"role": "user", "content": question})\n'
        '        messages.append({"role": "assistant", "content": answer})')
SYSTEM = 'messages = [] if system is None else [{"role": "system", "content": system}]'
WHOLE = 'whole = match["whole"].replace(",", "").lstrip("0") or "0"'
LAST = "return _canonical_number(numbers[-1]) if numbers else None"
LOG_SOFTMAX = "log_probs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)  # (n, vocab)"
SUM = "scores.append(log_probs[positions, torch.tensor(list(label))].sum())"
QUANTILE = "low, high = np.quantile(means, [tail, 1 - tail])"
NORMAL = "low, high = means.mean() - {z} * means.std(), means.mean() + {z} * means.std()"
COUNTS = "counts: dict[str, int] = {}  # answer -> count, in the order the answers first appear"
DRAW = "indices = rng.integers(0, sample.size, size=(n_resamples, sample.size))  # (n_resamples, n)"

MISTAKES = [  # (check, old, new, what its message must say)
    (ch8.test_render_template_matches_str_format_map, PARTS, IN_TURN.replace("<tail>", ""),
     "'{{' and '}}' are escaped braces"),
    (ch8.test_render_template_matches_str_format_map, PARTS,
     IN_TURN.replace("<tail>", ".replace('{{', '{').replace('}}', '}')"), "a value is put in as it is"),
    (ch8.test_render_template_refuses_a_missing_variable_and_lone_braces, "if name not in values:", "if False:",
     "expected InputError, got KeyError"),
    (ch8.test_render_template_refuses_a_missing_variable_and_lone_braces, MISSING,
     'raise InputError("a value is missing", "check the values")', "the error should name the variable 'stars'"),
    (ch8.test_render_template_refuses_a_missing_variable_and_lone_braces, 'elif char == "}":', "elif False:",
     "a single '}' outside a field is an error"),
    (ch8.test_chat_messages_lays_out_system_shots_and_question, SHOT,
     "\n        ".join(reversed(SHOT.split("\n        "))), "each shot is the user's question first"),
    (ch8.test_chat_messages_lays_out_system_shots_and_question, SYSTEM,
     'messages = [{"role": "system", "content": system}]', "with system=None there is no system message"),
    (ch8.test_chat_messages_through_smollm2_chat_template, '{"role": "assistant", "content": answer}',
     '{"role": "bot", "content": answer}', "the roles are 'system', 'user' and 'assistant'"),
    (ch8.test_normalise_answer_on_a_table_of_answers, WHOLE, 'whole = match["whole"].lstrip("0") or "0"',
     'remove the thousands separators: "1,200" is 1200'),
    (ch8.test_normalise_answer_on_a_table_of_answers, "text.lower().split()", "text.split()",
     "lower-case the answer"),
    (ch8.test_normalise_answer_on_a_table_of_answers, 'fraction = (match["fraction"] or "").rstrip("0")',
     'fraction = match["fraction"] or ""', "drop trailing zeros after the decimal point"),
    (ch8.test_normalise_answer_on_a_table_of_answers, "text = text.rstrip(_FINAL_PUNCTUATION).strip()",
     "text = text.strip()", "remove final punctuation"),
    (ch8.test_normalise_answer_on_a_table_of_answers, "[$€£]?(?P<whole>", "(?P<whole>", "drop the currency sign"),
    (ch8.test_extract_number_on_a_table_of_answers, LAST, LAST.replace("[-1]", "[0]"),
     "else the last number: the numbers before are the working"),
    (ch8.test_extract_number_on_a_table_of_answers, "if markers:", "if False:",
     "the first number that follows is the answer"),
    (ch8.test_extract_number_on_a_table_of_answers, LAST, LAST.replace("None", '""'), "return None (not a string)"),
    (ch8.test_label_log_probs_matches_transformers_loss_on_a_tiny_llama, "start = len(prompt_ids) - 1",
     "start = len(prompt_ids)", "off by one: the logits at position t predict token t + 1"),
    (ch8.test_label_log_probs_matches_transformers_loss_on_a_tiny_llama, LOG_SOFTMAX,
     "log_probs = model(ids).logits[0].float()", "take torch.log_softmax over the vocabulary"),
    (ch8.test_label_log_probs_matches_transformers_loss_on_a_tiny_llama, SUM, SUM.replace(".sum()", ".mean()"),
     "do not average them"),
    (ch8.test_label_log_probs_matches_transformers_loss_on_a_tiny_llama, SUM, SUM.replace(".sum()", "[0]"),
     "score every token of the label"),
    (ch8.test_bootstrap_interval_matches_scipy_bootstrap, QUANTILE, NORMAL.format(z=1),
     "mean ± one standard deviation of the resampled means"),
    (ch8.test_bootstrap_interval_matches_scipy_bootstrap, QUANTILE, NORMAL.format(z=1.96),
     "the interval is symmetric around the mean"),
    (ch8.test_bootstrap_interval_matches_scipy_bootstrap, "tail = (1 - confidence) / 2", "tail = 1 - confidence",
     "cut (1 - confidence)/2 off each tail"),
    (ch8.test_bootstrap_interval_matches_scipy_bootstrap, "means = sample[indices].mean(axis=1)", "means = sample",
     "not of the values themselves"),
    (ch8.test_bootstrap_interval_matches_scipy_bootstrap, QUANTILE, "high, low = np.quantile(means, [tail, 1 - tail])",
     "return (low, high) in that order"),
    (ch8.test_bootstrap_interval_matches_scipy_bootstrap, "tail = (1 - confidence) / 2", "tail = 0.025",
     "use the confidence passed in (0.9)"),
    (ch8.test_bootstrap_interval_is_exact_on_a_constant_sample_and_covers_the_truth, DRAW,
     DRAW.replace("rng.integers", "np.random.default_rng().integers"), "so a seed gives the same interval"),
    (ch8.test_bootstrap_interval_is_exact_on_a_constant_sample_and_covers_the_truth, QUANTILE, NORMAL.format(z=1),
     "the intervals are too narrow"),
    (ch8.test_majority_vote_handles_ties_and_none, "count > counts[best]", "count >= counts[best]",
     "a tie goes to the answer seen first, not the last"),
    (ch8.test_majority_vote_handles_ties_and_none, COUNTS, "return __import__('collections').Counter(answers)"
     ".most_common(1)[0][0] if answers else None\n    " + COUNTS, "None counts as no answer"),
]


@pytest.mark.parametrize(("check", "old", "new", "hint"), MISTAKES, ids=[case[3] for case in MISTAKES])
def test_prompting_mistakes_are_named(check: Callable, old: str, new: str, hint: str) -> None:
    message = failure_message(check, _changed(old, new))
    assert hint in message, message


RIGHT_BOOTSTRAPS = [  # other correct ways: another generator, another seed, numpy's choice, percentiles in percent
    DRAW.replace("rng.integers", "np.random.default_rng(seed + 1).integers"),
    DRAW.replace("rng.integers", "np.random.default_rng(seed + 2).integers"),
    DRAW.replace("rng.integers", "np.random.default_rng(seed + 3).integers"),
    "indices = np.random.default_rng(seed + 4).choice(sample.size, size=(n_resamples, sample.size), replace=True)",
    "indices = np.random.RandomState(seed + 5).randint(0, sample.size, size=(n_resamples, sample.size))",
]


@pytest.mark.parametrize("new", RIGHT_BOOTSTRAPS)
def test_other_right_bootstraps_pass(new: str) -> None:
    with one_thread():
        ch8.test_bootstrap_interval_matches_scipy_bootstrap(_changed(DRAW, new))
        ch8.test_bootstrap_interval_is_exact_on_a_constant_sample_and_covers_the_truth(_changed(DRAW, new))


def test_percentiles_in_percent_pass() -> None:
    ch8.test_bootstrap_interval_matches_scipy_bootstrap(
        _changed(QUANTILE, "low, high = np.percentile(means, [100 * tail, 100 * (1 - tail)])"))
