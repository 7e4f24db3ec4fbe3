"""Chapter 8 exercise checks: `z2h check 8` runs them on course/08-prompting/exercises.py.

Oracles: Python's ``str.format_map`` (templates), SmolLM2's own chat template (``apply_chat_template``), tables of
answers written by hand from the normalisation rules, transformers' own loss (``model(ids, labels=...)`` with the
prompt masked out) for label log-probabilities, ``scipy.stats.bootstrap(method="percentile")`` for the interval
(within a tolerance set by the Monte-Carlo error of both), and vote tables written by hand.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import scipy.stats
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from zero2hero.checks.feedback import Hint, call_learner, expect, expect_close, expect_equal, expect_raises
from zero2hero.errors import InputError

CHAPTER = 8
REFERENCE = {
    "render_template": "zero2hero.prompting.functional",
    "chat_messages": "zero2hero.prompting.functional",
    "normalise_answer": "zero2hero.prompting.functional",
    "extract_number": "zero2hero.prompting.functional",
    "label_log_probs": "zero2hero.prompting.functional",
    "bootstrap_interval": "zero2hero.prompting.functional",
    "majority_vote": "zero2hero.prompting.functional",
}


# ---- templates ---------------------------------------------------------------------------------------------------

# "name" comes first and its value holds fields: replacing name after name would fill them in, str.format does not
VALUES = {"name": "{n}{{x}}", "review": "Tasty, but {too} sweet.", "label": "positive", "n": "3", "x_1": ""}
TEMPLATES = [
    "Review: {review}\nSentiment:",
    "{label}",
    "no fields at all",
    "",
    "{{literal}} and {label}",
    "a {{ b }} c",
    "{{{label}}}",  # an escaped brace, a field, an escaped brace: "{positive}"
    "{{{{}}}}",  # two escaped braces each way: "{{}}"
    "}}{{",
    "{name}{name}{n}",
    "{x_1}|{review}|{x_1}",
    'JSON: {{"answer": "{label}", "count": {n}}}',
    "ends with a field {n}",
    "{n} starts with a field",
]


def _random_templates(count: int, seed: int = 0) -> list[str]:
    """Templates built from text, fields and escaped braces in random order."""
    rng = random.Random(seed)
    pieces = ["Review", ": ", "\n", " ", "{{", "}}", "é", "{review}", "{label}", "{n}", "{name}", "{x_1}"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def _replaced_in_turn(template: str, values: dict[str, str]) -> str:
    """A common wrong version: ``str.replace`` for each name in turn (escapes untouched, values re-scanned)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def _template_hints(template: str) -> list[Hint]:
    naive = _replaced_in_turn(template, VALUES)
    return [
        (lambda got: got == naive and ("{{" in template or "}}" in template),
         "'{{' and '}}' are escaped braces: each stands for one literal '{' or '}'"),
        (lambda got: got == naive.replace("{{", "{").replace("}}", "}"),
         "a value is put in as it is: scan the template once from left to right instead of replacing name after name"),
    ]


def test_render_template_matches_str_format_map(ex) -> None:
    for template in TEMPLATES + _random_templates(200):
        expected = template.format_map(VALUES)
        what = f"render_template({template!r}, values)"
        hints = _template_hints(template)
        got = call_learner(what, ex.render_template, (template, dict(VALUES)), hints)
        expect_equal(got, expected, f"{what}, against str.format_map", hints)


def test_render_template_refuses_a_missing_variable_and_lone_braces(ex) -> None:
    what = "render_template('Review: {review} {stars}', {'review': 'ok'}): no value for 'stars'"
    expect_raises(InputError, lambda: ex.render_template("Review: {review} {stars}", {"review": "ok"}), what,
                  "raise zero2hero.errors.InputError(message, hint) (str.format would raise KeyError)")
    try:
        ex.render_template("Review: {review} {stars}", {"review": "ok"})
    except InputError as err:
        expect("stars" in str(err), what, f"the error should name the variable 'stars', got: {err}",
               hints=[(None, "say which variable has no value, e.g. InputError(f\"no value for {name!r}\", hint)")])
    expect_raises(InputError, lambda: ex.render_template("{label", {"label": "x"}), "render_template('{label', ...)",
                  "a '{' that is never closed is an error, as in str.format")
    expect_raises(InputError, lambda: ex.render_template("a } b", {}), "render_template('a } b', {})",
                  "a single '}' outside a field is an error, as in str.format; '}}' is the literal brace")
    got = call_learner("render_template('{a}', {'a': '1', 'unused': '2'})", ex.render_template,
                       ("{a}", {"a": "1", "b": "2"}))
    expect_equal(got, "1", "render_template('{a}', {'a': '1', 'b': '2'}): a value the template does not use is fine")


# ---- chat messages -----------------------------------------------------------------------------------------------

SHOTS = [("Review: Great tea.", "positive"), ("Review: Stale.", "negative")]


def _message_hints(system: str | None, shots: Sequence[tuple[str, str]], user: str) -> list[Hint]:
    swapped = [message for question, answer in shots  # a common slip: the answer before its question
               for message in ({"role": "assistant", "content": answer}, {"role": "user", "content": question})]
    head = [] if system is None else [{"role": "system", "content": system}]
    return [
        (lambda got: got == head + swapped + [{"role": "user", "content": user}],
         "each shot is the user's question first, then the assistant's answer"),
        (lambda got: system is None and any(m.get("role") == "system" for m in got),
         "with system=None there is no system message at all"),
        (lambda got: system is not None and got[0].get("role") != "system", "the system message comes first"),
        (lambda got: got[-1] != {"role": "user", "content": user}, "the last message is the user's question"),
    ]


def test_chat_messages_lays_out_system_shots_and_question(ex) -> None:
    system = "Answer with one word: positive or negative."
    expected = [{"role": "system", "content": system},
                {"role": "user", "content": "Review: Great tea."}, {"role": "assistant", "content": "positive"},
                {"role": "user", "content": "Review: Stale."}, {"role": "assistant", "content": "negative"},
                {"role": "user", "content": "Review: Too sweet."}]
    for sys_prompt, shots, want in ((system, SHOTS, expected), (None, SHOTS, expected[1:]),
                                    (system, [], [expected[0], expected[-1]]), (None, [], expected[-1:])):
        what = f"chat_messages(system={sys_prompt!r}, {len(shots)} shots, 'Review: Too sweet.')"
        hints = _message_hints(sys_prompt, shots, "Review: Too sweet.")
        got = call_learner(what, ex.chat_messages, (sys_prompt, list(shots), "Review: Too sweet."), hints)
        expect_equal(got, want, what, hints)


def test_chat_messages_through_smollm2_chat_template(ex) -> None:
    from zero2hero.assets import load_tokenizer

    tokenizer = load_tokenizer("smollm2")
    messages = call_learner("chat_messages", ex.chat_messages, ("Answer with one word.", SHOTS[:1], "Review: Stale."))
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # SmolLM2's template (ChatML): each message between <|im_start|>role\n and <|im_end|>\n, then the assistant's turn
    expected = ("<|im_start|>system\nAnswer with one word.<|im_end|>\n"
                "<|im_start|>user\nReview: Great tea.<|im_end|>\n"
                "<|im_start|>assistant\npositive<|im_end|>\n"
                "<|im_start|>user\nReview: Stale.<|im_end|>\n"
                "<|im_start|>assistant\n")
    expect_equal(text, expected, "SmolLM2's chat template applied to chat_messages('Answer with one word.', "
                                 "[('Review: Great tea.', 'positive')], 'Review: Stale.')",
                 hints=[(None, "the roles are 'system', 'user' and 'assistant'; the keys 'role' and 'content'")])


# ---- answers -----------------------------------------------------------------------------------------------------

NORMALISED = [  # (answer, normalised) written by hand from the rules in the docstring
    ("Positive", "positive"),
    ("  negative  ", "negative"),
    ("Positive.", "positive"),
    ("yes !", "yes"),
    ("Great  tea\n and\tcake", "great tea and cake"),
    ("1,200", "1200"),
    ("$1,200.00", "1200"),
    ("The total is $1,200.00!", "the total is 1200"),
    ("3.0", "3"),
    ("2.50", "2.5"),
    ("-7", "-7"),
    ("0.5", "0.5"),
    ("12,000,000 grains", "12000000 grains"),
    ("€15", "15"),
    ("", ""),
]

EXTRACTED = [  # (output, number) written by hand from the rules in the docstring
    ("42", "42"),
    ("The answer is 42.", "42"),
    ("3 boxes of 400 is 1200, so the answer is 1,200.", "1200"),
    ("Answer: $1,200.00", "1200"),
    ("answer: 7. Then she bought 8 more.", "7"),
    ("She had 5 apples and ate 2, leaving 3", "3"),
    ("ANSWER IS -4", "-4"),
    ("It costs 2.50 dollars", "2.5"),
    ("Answer: 12 ... wait, the answer is 15", "15"),
    ("It is 4 or 9, so the answer: unclear", "9"),  # no number after the marker: the last number
    ("no numbers here", None),
    ("", None),
]


def _normalise_hints(expected: str) -> list[Hint]:
    def plain(got: str) -> str:
        return " ".join(got.lower().split()).rstrip(".,;:!?").strip()

    return [
        (lambda got: got.replace(",", "") == expected and "," in got,
         'remove the thousands separators: "1,200" is 1200'),
        (lambda got: re.sub(r"[$€£]", "", got) == expected, "drop the currency sign ($, €, £)"),
        (lambda got: re.sub(r"\.0+\b", "", got) == expected or re.sub(r"(\.\d*?)0+\b", r"\1", got) == expected,
         'drop trailing zeros after the decimal point: "3.0" is 3, "2.50" is 2.5'),
        (lambda got: got.lower() == expected, "lower-case the answer"),
        (lambda got: " ".join(got.split()) == expected, "collapse runs of spaces, tabs and newlines to one space"),
        (lambda got: plain(got) == expected, "remove final punctuation (. , ; : ! ?) and the spaces around it"),
    ]


def test_normalise_answer_on_a_table_of_answers(ex) -> None:
    for answer, expected in NORMALISED:
        what = f"normalise_answer({answer!r})"
        got = call_learner(what, ex.normalise_answer, (answer,), _normalise_hints(expected))
        expect_equal(got, expected, what, _normalise_hints(expected))


def _extract_hints(text: str, expected: str | None) -> list[Hint]:
    numbers = re.findall(r"-?[$€£]?\d+(?:,\d{3})*(?:\.\d+)?", text)
    return [
        (lambda got: expected is None and got in ("", "None"), "return None (not a string) when there is no number"),
        (lambda got: len(numbers) > 1 and got is not None and got == numbers[0].replace(",", "").lstrip("$"),
         "take the number after the last 'answer:' / 'answer is', else the last number: the numbers before are "
         "the working"),
        (lambda got: isinstance(got, str) and expected is not None and got != expected and
         got.replace(",", "").lstrip("$€£").removesuffix(".00").removesuffix(".0") == expected,
         "normalise the number (no thousands separators, currency sign or trailing zeros)"),
        (lambda got: "answer" in text.lower() and got == numbers[-1].replace(",", "") and got != expected,
         "after the last 'answer:' / 'answer is', the first number that follows is the answer"),
    ]


def test_extract_number_on_a_table_of_answers(ex) -> None:
    for text, expected in EXTRACTED:
        what = f"extract_number({text!r})"
        got = call_learner(what, ex.extract_number, (text,), _extract_hints(text, expected))
        expect_equal(got, expected, what, _extract_hints(text, expected))


# ---- label log-probabilities -------------------------------------------------------------------------------------

def _loss_key(model, prompt: list[int], labels: Sequence[Sequence[int]]) -> torch.Tensor:
    """Each label's log-probability from transformers' own loss: the mean cross-entropy over the label's tokens
    (prompt positions masked with -100; the model shifts the labels itself), times the number of label tokens."""
    totals = []
    with torch.inference_mode():
        for label in labels:
            ids = torch.tensor([prompt + list(label)])
            targets = ids.clone()
            targets[0, :len(prompt)] = -100
            totals.append(-model(ids, labels=targets).loss.double() * len(label))
    return torch.stack(totals)


def _mistake(model, prompt: list[int], labels: Sequence[Sequence[int]], shift: int, log_softmax: bool,
             reduce: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """What a wrong version computes: positions shifted by ``shift``, raw logits, or another reduction."""
    totals = []
    with torch.inference_mode():
        for label in labels:
            logits = model(torch.tensor([prompt + list(label)])).logits[0].double()
            scores = torch.log_softmax(logits, -1) if log_softmax else logits
            start = len(prompt) - 1 + shift
            picked = scores[torch.arange(start, start + len(label)), torch.tensor(list(label))]
            totals.append(reduce(picked))
    return torch.stack(totals)


def _close_to(expected: torch.Tensor) -> Callable[[Any], bool]:
    return lambda got: torch.allclose(torch.as_tensor(got).double(), expected, atol=1e-3, rtol=1e-4)


def _label_hints(model, prompt: list[int], labels: Sequence[Sequence[int]]) -> list[Hint]:
    def wrong(shift: int = 0, log_softmax: bool = True, reduce=torch.sum) -> torch.Tensor:
        return _mistake(model, prompt, labels, shift, log_softmax, reduce)

    return [
        (_close_to(wrong(shift=1)), "off by one: the logits at position t predict token t + 1, so label token j "
                                    "(at position len(prompt) + j) is scored at position len(prompt) + j - 1"),
        (_close_to(wrong(log_softmax=False)), "these are raw logits: take torch.log_softmax over the vocabulary first"),
        (_close_to(wrong(reduce=torch.mean)), "sum the label tokens' log-probabilities (the log of the product of "
                                              "their probabilities), do not average them"),
        (_close_to(wrong(reduce=lambda t: t[0])), "score every token of the label, not only its first"),
        (_close_to(wrong().exp()), "return log-probabilities, not probabilities"),
    ]


def _check_label_log_probs(ex, model, prompt: list[int], labels: list[list[int]], what: str) -> None:
    expected = _loss_key(model, prompt, labels)
    hints = _label_hints(model, prompt, labels)
    got = call_learner(what, ex.label_log_probs, (model, list(prompt), [list(label) for label in labels]), hints)
    if isinstance(got, torch.Tensor):
        got = got.detach()
    expect_close(got, expected, f"{what}, against -loss × (label tokens) from transformers", atol=1e-4, rtol=1e-4,
                 hints=hints)


def _tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         initializer_range=0.5)  # large weights: positions predict clearly different tokens
    return LlamaForCausalLM(config).eval()


def test_label_log_probs_matches_transformers_loss_on_a_tiny_llama(ex) -> None:
    model = _tiny_llama()
    prompt = [1, 17, 5, 30, 8, 22]
    labels = [[7], [3, 9], [11, 4, 20], [17, 5]]  # 1-3 tokens; the last repeats prompt tokens
    _check_label_log_probs(ex, model, prompt, labels, f"label_log_probs(tiny LLaMA, prompt {prompt}, labels {labels})")
    _check_label_log_probs(ex, model, [4], [[2, 2]], "label_log_probs(tiny LLaMA, a one-token prompt [4], [[2, 2]])")


@pytest.mark.heavy
def test_label_log_probs_matches_transformers_loss_on_smollm2(ex, smollm2) -> None:
    model, tokenizer = smollm2
    prompt = tokenizer("Review: The tea was stale and bitter.\nSentiment:").input_ids
    labels = [tokenizer(word).input_ids for word in (" positive", " negative", " not good at all")]
    _check_label_log_probs(ex, model, prompt, labels, "label_log_probs(SmolLM2, a review prompt, "
                                                      "' positive' / ' negative' / ' not good at all')")


# ---- bootstrap interval ------------------------------------------------------------------------------------------

ACCURACY = [1.0] * 116 + [0.0] * 34  # 116 of 150 right (0.773), the chapter's sentiment accuracy
SKEWED = [1.0, 1.57, 0.66, 0.26, 0.51, 0.23, 1.09, 7.47, 0.48, 0.39, 2.08, 1.71, 1.17, 0.25, 0.96, 2.84, 0.13, 0.5,
          0.06, 0.14]  # lognormal: the interval of its mean reaches further above the mean than below
BOOTSTRAP_CASES = [(ACCURACY, 0.95, "150 right/wrong scores, 116 right"),
                   (SKEWED, 0.95, "20 skewed values (one is 7.47)"),
                   (np.round(np.random.default_rng(3).normal(5.0, 2.0, 60), 3).tolist(), 0.90, "60 normal values")]
N_RESAMPLES = 20_000  # both ours and scipy's: the Monte-Carlo error of each endpoint is then ~2% of a standard error


def _quantile_error(distribution: np.ndarray, p: float, n_resamples: int) -> float:
    """Monte-Carlo standard error of the p-quantile of n_resamples draws: sqrt(p(1 - p) / B) / density at the
    quantile, the density estimated from the spread of the quantiles of ``distribution`` around p."""
    delta = 0.01
    low, high = np.quantile(distribution, [max(p - delta, 0.0), min(p + delta, 1.0)])
    return math.sqrt(p * (1 - p) / n_resamples) * (high - low) / (2 * delta)


def _bootstrap_hints(values: list[float], confidence: float, distribution: np.ndarray,
                     tolerance: float) -> list[Hint]:
    mean, tail = float(np.mean(values)), (1 - confidence) / 2
    right = np.quantile(distribution, [tail, 1 - tail])
    width = right[1] - right[0]

    def near(interval: Sequence[float]) -> Callable[[Any], bool]:
        return lambda got: abs(got[0] - interval[0]) < tolerance and abs(got[1] - interval[1]) < tolerance

    spread = distribution.std()
    hints: list[Hint] = [
        (near((mean - spread, mean + spread)), "that is the mean ± one standard deviation of the resampled means (a "
                                               "68% interval): take the (1 - confidence)/2 and 1 - (1 - confidence)/2 "
                                               "quantiles of the resampled means"),
        (lambda got: abs((got[1] - mean) - (mean - got[0])) < 0.02 * width < abs((right[1] - mean) - (mean - right[0])),
         "the interval is symmetric around the mean, as mean ± z·std would be; the percentile bootstrap takes the "
         "quantiles of the resampled means, which lie unevenly around the mean when the values are skewed"),
        (lambda got: got[1] - got[0] > 2.5 * width, "the interval is far too wide: take the quantiles of the means of "
                                                    "the resamples, not of the values themselves"),
        (near(np.quantile(distribution, [1 - confidence, confidence])),
         "cut (1 - confidence)/2 off each tail, not (1 - confidence)"),
        (lambda got: got[1] < got[0], "return (low, high) in that order"),
    ]
    if confidence != 0.95:
        hints.append((near(np.quantile(distribution, [0.025, 0.975])), f"use the confidence passed in ({confidence})"))
    return hints


def test_bootstrap_interval_matches_scipy_bootstrap(ex) -> None:
    for values, confidence, name in BOOTSTRAP_CASES:
        result = scipy.stats.bootstrap((np.array(values),), np.mean, confidence_level=confidence, method="percentile",
                                       n_resamples=N_RESAMPLES, random_state=np.random.default_rng(12345))
        expected = result.confidence_interval
        distribution = result.bootstrap_distribution
        # both estimates have Monte-Carlo error; 5 standard errors of their difference is the tolerance
        tail = (1 - confidence) / 2
        tolerance = 5 * math.sqrt(2) * max(_quantile_error(distribution, p, N_RESAMPLES) for p in (tail, 1 - tail))
        hints = _bootstrap_hints(values, confidence, distribution, tolerance)
        what = f"bootstrap_interval({name}, confidence={confidence}, n_resamples={N_RESAMPLES})"
        got = call_learner(what, ex.bootstrap_interval, (list(values), confidence, N_RESAMPLES, 0), hints)
        expect(isinstance(got, tuple | list) and len(got) == 2, what, f"expected (low, high), got {got!r}")
        for side, ours, theirs in (("low", got[0], expected.low), ("high", got[1], expected.high)):
            expect(abs(float(ours) - theirs) < tolerance, what,
                   f"{side} end: expected {theirs:.4f} ± {tolerance:.4f} (scipy.stats.bootstrap, percentile), got "
                   f"{float(ours):.4f}; the whole interval: expected ({expected.low:.4f}, {expected.high:.4f}), got "
                   f"({float(got[0]):.4f}, {float(got[1]):.4f})", got, hints)


def test_bootstrap_interval_is_exact_on_a_constant_sample_and_covers_the_truth(ex) -> None:
    got = call_learner("bootstrap_interval([0.25] * 9)", ex.bootstrap_interval, ([0.25] * 9,))
    expect_equal(tuple(float(v) for v in got), (0.25, 0.25), "bootstrap_interval([0.25] * 9): every resample has "
                 "mean 0.25", hints=[(None, "the interval is made of means of resamples of the values")])
    # continuous values: two different sets of resamples give different quantiles (0/1 values often would not)
    again = call_learner("bootstrap_interval(SKEWED, seed=7)", ex.bootstrap_interval, (SKEWED, 0.95, 2000, 7))
    expect_equal(tuple(map(float, again)), tuple(map(float, ex.bootstrap_interval(SKEWED, 0.95, 2000, 7))),
                 "bootstrap_interval twice with seed=7", hints=[
                     (None, "draw the resamples from np.random.default_rng(seed), so a seed gives the same interval")])
    # 400 samples of 30 right/wrong answers with a true accuracy of 0.7: a 95% interval covers 0.7 about 95% of the
    # time (the percentile bootstrap of a proportion with n = 30 is a little below; 400 repetitions move the rate by
    # about ±0.011); a 68% interval would cover about 68%
    rng = np.random.default_rng(2024)
    samples = (rng.random((400, 30)) < 0.7).astype(float)
    covered = sum(lo <= 0.7 <= hi for lo, hi in (ex.bootstrap_interval(list(s), 0.95, 1000, i)
                                                 for i, s in enumerate(samples)))
    rate = covered / len(samples)
    expect(0.89 <= rate <= 0.99, "95% intervals of 400 samples (30 answers, true accuracy 0.7)",
           f"expected about 95% to cover 0.7, got {rate:.1%}", rate, hints=[
               (lambda r: r < 0.89, "the intervals are too narrow: the 2.5% and 97.5% quantiles of the resampled "
                                    "means, not the mean ± one standard deviation"),
               (lambda r: r > 0.99, "the intervals are too wide: resample the values n times with replacement and "
                                    "take the mean of each resample")])


# ---- majority vote -----------------------------------------------------------------------------------------------

VOTES = [  # (answers, majority) written by hand from the rules in the docstring
    (["12", "15", "12"], "12"),
    (["15", "12", "12", "15"], "15"),  # a tie: the answer seen first
    (["7", "8", "9"], "7"),
    (["3", None, None, None, "4", "4"], "4"),  # None is not an answer, however often it comes
    ([None, "x"], "x"),
    ([None, None], None),
    ([], None),
    (["a", "b", "b", "a", "c", "c"], "a"),
]


def _vote_hints(answers: list[str | None]) -> list[Hint]:
    counts: dict[str | None, int] = {}
    for answer in answers:
        counts[answer] = counts.get(answer, 0) + 1
    real = {a: c for a, c in counts.items() if a is not None}
    top = max(real.values(), default=0)
    tied = [a for a, c in real.items() if c == top]
    return [
        (lambda got: len(tied) > 1 and got == tied[-1], "a tie goes to the answer seen first, not the last: replace "
                                                        "the leader only when a count is strictly larger"),
        (lambda got: got is None and real, "None counts as no answer: skip it and vote among the others"),
    ]


def test_majority_vote_handles_ties_and_none(ex) -> None:
    for answers, expected in VOTES:
        what = f"majority_vote({answers!r})"
        got = call_learner(what, ex.majority_vote, (list(answers),), _vote_hints(answers))
        expect_equal(got, expected, what, _vote_hints(answers))
