"""Errors a learner can act on.

Every error raised for bad input is a :class:`Zero2HeroError`: its message says what was wrong and
its ``hint`` what to do. The CLI prints both on one line and exits non-zero, without a traceback.
"""

from __future__ import annotations


class Zero2HeroError(Exception):
    """Base class: a problem the learner can fix, with a hint on how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class InputError(Zero2HeroError, ValueError):
    """Bad input: an empty/binary/non-UTF-8 file, a wrong shape, an out-of-range parameter."""


class AssetMissingError(Zero2HeroError, FileNotFoundError):
    """An offline default model or data set is not installed."""


class UnknownNameError(Zero2HeroError, KeyError):
    """An unknown chapter, lab, benchmark, model or language name."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return Zero2HeroError.__str__(self)
