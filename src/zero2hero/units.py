"""Names of measured numbers carry their unit: ``<subject>_<quantity>_<unit suffix>``.

One rule for lab metrics and benchmark figures alike (see docs/contracts.md): the suffix of a name says
its unit, so ``decode_tokens_per_s`` is in tokens per second wherever it appears and no reader has to
guess. A ratio's name also says its direction: ``speedup_ours_over_rust_ratio`` is ours ÷ Rust's speed.

>>> unit_of("ours_decode_tokens_per_s")
'tokens/s'
>>> unit_of("speedup_cache_over_no_cache_ratio")
'ratio'
"""

from __future__ import annotations

import re

# Suffix -> unit. Longer suffixes are tried first, so "_tokens_per_s" wins over "_s".
UNIT_SUFFIXES: dict[str, str] = {
    "_tokens_per_s": "tokens/s",
    "_chars_per_s": "chars/s",
    "_examples_per_s": "examples/s",
    "_requests_per_s": "requests/s",
    "_mb_per_s": "MB/s",
    "_gb_per_s": "GB/s",
    "_bytes_per_token": "bytes/token",
    "_tokens_per_word": "tokens/word",
    "_bits_per_weight": "bits/weight",
    "_s": "s",
    "_mb": "MB",
    "_bytes": "bytes",
    "_count": "count",
    "_ratio": "ratio",
    "_pct": "%",
    "_identical": "bool",
    "_ppl": "perplexity",
    "_loss": "nats",
    "_nats": "nats",  # an information quantity that is not a loss, e.g. a KL divergence
    "_accuracy": "accuracy",
    "_f1": "F1",
    "_cosine": "cosine",
    "_mse": "MSE",
    "_db": "dB",
    "_slope": "log-log slope",
}
_BY_LENGTH = sorted(UNIT_SUFFIXES, key=len, reverse=True)
_NAME = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
# Words that make a ratio a comparison of two things: its name must say which over which.
_COMPARISON_WORDS = ("speedup", "slowdown", "throughput_ratio", "time_ratio")


def unit_of(name: str) -> str:
    """The unit a figure's name declares; ``ValueError`` when the name breaks the naming rule."""
    problem = naming_problem(name)
    if problem:
        raise ValueError(problem)
    return UNIT_SUFFIXES[next(s for s in _BY_LENGTH if name.endswith(s))]


def naming_problem(name: str) -> str:
    """Why ``name`` breaks the rule (lower snake case, a known unit suffix, ratios with a direction); "" if none."""
    if not _NAME.match(name):
        return f"{name!r} is not lower snake case (letters, digits, single underscores)"
    suffix = next((s for s in _BY_LENGTH if name.endswith(s)), None)
    if suffix is None or name == suffix.lstrip("_"):
        return f"{name!r} does not end with a unit suffix ({', '.join(UNIT_SUFFIXES)})"
    if suffix == "_ratio" and any(w in name for w in _COMPARISON_WORDS) and "_over_" not in name:
        return f"{name!r} compares two things: say which over which (e.g. speedup_ours_over_rust_ratio)"
    return ""
