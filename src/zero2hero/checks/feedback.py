"""Failure messages that teach: what was checked, what was expected and what came back at the first difference,
and a hint for the mistake that most likely caused it.

Every exercise check compares through these helpers instead of a bare ``assert``, so ``z2h check`` can print::

    attention output: 12 of 384 values differ; first at index (0, 1, 2, 3): expected 0.4121, got 0.9137
    hint: divide the scores q·kᵀ by √d_head before the softmax

A hint is ``(predicate, text)``: the text is shown when ``predicate(got)`` is true (a predicate that raises
counts as false); ``(None, text)`` is always shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import torch

Hint = tuple[Callable[[Any], bool] | None, str]
_SHOWN = 160  # characters of a value shown in a message


class CheckFailure(AssertionError):
    """A failed exercise check; its message is the whole explanation (several lines). ``blocked_by`` names the
    earlier check whose failure caused this one, when that is the reason."""

    def __init__(self, message: str, blocked_by: str | None = None) -> None:
        super().__init__(message)
        self.blocked_by = blocked_by


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block. The checks' models are small: one thread runs them fast, and on
    a busy machine several threads mostly wait for each other (``perplexity`` of SmolLM2 on 100 held-out tokens
    in windows of 32 took 1.1 s on one thread and 16 s on two, on a 2-core machine busy with other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_label(test_name: str) -> str:
    """How ``z2h check`` names a check: ``test_attention_matches_torch`` -> ``attention matches torch``."""
    return test_name.removeprefix("test_").replace("_", " ")


def fail(what: str, detail: str, got: Any = None, hints: Sequence[Hint] = ()) -> NoReturn:
    """Raise a :class:`CheckFailure` saying ``what: detail`` plus the hints that apply to ``got``."""
    lines = [f"{what}: {detail}"]
    lines += [f"hint: {text}" for predicate, text in hints if predicate is None or _holds(predicate, got)]
    raise CheckFailure("\n".join(lines))


def call_learner(what: str, function: Callable[..., Any], args: tuple, hints: Sequence[Hint] = ()) -> Any:
    """``function(*args)``; an error it raises (other than NotImplementedError, which marks an untouched stub) fails
    the check as ``what`` with the error's own words and the hints that apply to it."""
    try:
        return function(*args)
    except NotImplementedError:
        raise
    except Exception as err:  # whatever the learner's code raised is shown, with the hints for it
        kind = type(err)
        name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        fail(what, f"raised {name}: {err}", err, hints)


def expect(condition: bool, what: str, detail: str, got: Any = None, hints: Sequence[Hint] = ()) -> None:
    """Fail with ``what: detail`` unless ``condition`` holds."""
    if not condition:
        fail(what, detail, got, hints)


def expect_equal(got: Any, expected: Any, what: str, hints: Sequence[Hint] = ()) -> None:
    """Fail unless ``got == expected`` (tensors: same shape, dtype and values), naming the first difference."""
    if _equal(got, expected):
        return
    fail(what, first_difference(got, expected), got, hints)


def expect_close(got: Any, expected: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-5,
                 hints: Sequence[Hint] = ()) -> None:
    """Fail unless tensor ``got`` matches ``expected`` within tolerance; names the first index that does not."""
    if not isinstance(got, torch.Tensor):
        fail(what, f"expected a tensor of shape {tuple(expected.shape)}, got {_short(got)}", got, hints)
    if got.shape != expected.shape:
        fail(what, f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}", got, hints)
    got_f, expected_f = got.detach().double(), expected.detach().double()
    bad = ~torch.isclose(got_f, expected_f, atol=atol, rtol=rtol)
    if not bad.any():
        return
    index = tuple(int(i) for i in bad.nonzero()[0])
    worst = (got_f - expected_f).abs().nan_to_num(float("inf")).max().item()
    fail(what, f"{int(bad.sum())} of {bad.numel()} values differ (largest difference {worst:.4g}); first at index "
         f"{_index(index)}: expected {float(expected_f[index]):.6g}, got {float(got_f[index]):.6g}", got, hints)


def expect_raises(error: type[BaseException], call: Callable[[], Any], what: str, hint: str) -> None:
    """Fail unless ``call()`` raises ``error``, saying what came back instead."""
    try:
        result = call()
    except error:
        return
    except Exception as other:  # any other error is the learner's, shown by name
        fail(what, f"expected {error.__name__}, got {type(other).__name__}: {other}", hints=[(None, hint)])
    fail(what, f"expected {error.__name__} to be raised, got a result: {_short(result)}", hints=[(None, hint)])


def prerequisite(check_name: str, what: str, run: Callable[[], None]) -> None:
    """Run ``run`` (which raises when an earlier exercise is wrong) and, if it fails, say that this failure only
    follows from it: fix the check named ``check_name`` first (or the check that one is blocked by, in turn)."""
    try:
        run()
    except NotImplementedError:
        raise CheckFailure(f"{what}: it builds on a function you have not written yet — fix "
                           f"`{check_label(check_name)}` first", check_name) from None
    except Exception as err:  # whatever went wrong there, this check cannot pass before it
        root = getattr(err, "blocked_by", None) or check_name
        raise CheckFailure(f"{what}: this follows from an earlier exercise — fix `{check_label(root)}` first "
                           "(its own message says what is wrong)", root) from None


def first_difference(got: Any, expected: Any) -> str:
    """A sentence naming where ``got`` first differs from ``expected`` (position, key, byte or element)."""
    if isinstance(expected, torch.Tensor) and isinstance(got, torch.Tensor):
        return _tensor_difference(got, expected)
    if isinstance(expected, str) and isinstance(got, str):
        return _sequence_difference(got, expected, "character")
    if isinstance(expected, bytes | bytearray) and isinstance(got, bytes | bytearray):
        return _sequence_difference(list(got), list(expected), "byte")
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        return _mapping_difference(got, expected)
    if isinstance(expected, list | tuple) and isinstance(got, list | tuple):
        return _sequence_difference(list(got), list(expected), "item")
    return f"expected {_short(expected)}, got {_short(got)}"


def _equal(got: Any, expected: Any) -> bool:
    if isinstance(expected, torch.Tensor):
        return isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype \
            and torch.equal(got, expected)
    try:
        return bool(got == expected)
    except (RuntimeError, ValueError):  # e.g. a tensor compared with a list
        return False


def _sequence_difference(got: list | str, expected: list | str, unit: str) -> str:
    first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
    if first is None:
        shorter, n = ("got", len(got)) if len(got) < len(expected) else ("expected", len(expected))
        extra = expected[n:] if shorter == "got" else got[n:]
        where = f"{shorter} stops after {n} {unit}s; the other goes on with {_short(extra)}"
        return f"{where} (expected {len(expected)} {unit}s, got {len(got)})"
    lo = max(first - 3, 0)
    return (f"first difference at {unit} {first}: expected {_short(expected[first])}, got {_short(got[first])}\n"
            f"  expected from {unit} {lo}: {_short(expected[lo:first + 4])}\n"
            f"  got      from {unit} {lo}: {_short(got[lo:first + 4])}")


def _mapping_difference(got: Mapping, expected: Mapping) -> str:
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    wrong = [k for k in expected if k in got and got[k] != expected[k]]
    parts = []
    if missing:
        parts.append(f"{len(missing)} keys missing, e.g. {_short(missing[0])}")
    if extra:
        parts.append(f"{len(extra)} keys that should not be there, e.g. {_short(extra[0])}")
    if wrong:
        parts.append(f"{len(wrong)} wrong values, e.g. at {_short(wrong[0])}: expected {_short(expected[wrong[0]])}, "
                     f"got {_short(got[wrong[0]])}")
    return "; ".join(parts) or f"expected {_short(expected)}, got {_short(got)}"


def _tensor_difference(got: torch.Tensor, expected: torch.Tensor) -> str:
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
    if got.dtype != expected.dtype:
        return f"expected dtype {expected.dtype}, got dtype {got.dtype}"
    bad = got != expected
    index = tuple(int(i) for i in bad.nonzero()[0])
    return (f"{int(bad.sum())} of {bad.numel()} values differ; first at index {_index(index)}: "
            f"expected {expected[index].item()}, got {got[index].item()}")


def _index(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def _holds(predicate: Callable[[Any], bool], got: Any) -> bool:
    try:
        return bool(predicate(got))
    except Exception:  # a hint that cannot be evaluated on this answer does not apply
        return False


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        value = value.tolist() if value.numel() <= 16 else f"tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 5] + " ...]"
