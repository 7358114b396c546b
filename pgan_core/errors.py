"""Error types of pgan_core.

Every error a user can cause by a wrong parameter, a missing file or a damaged file is one of
these, and its message names the parameter (or environment variable) and what is allowed, in
one line. Nothing else in the package raises bare ``ValueError`` for user input.
"""
from __future__ import annotations

import math
from typing import Any, Iterable


class PganError(Exception):
    """Base class of every error pgan_core raises on purpose."""


class ConfigError(PganError, ValueError):
    """A parameter has a wrong name, type or value."""


class DataError(PganError, FileNotFoundError):
    """A dataset or weights file is missing or unreadable; the message says what to set."""


class IntegrityError(PganError):
    """A file exists but fails its hash or structure check (truncated, altered, mismatched)."""


class TrainingDiverged(PganError, FloatingPointError):
    """A loss or gradient became NaN/inf; the message names the step and the last good checkpoint."""


class DistributedError(PganError, RuntimeError):
    """A multi-process run failed or timed out; the message quotes the end of its launch log."""


def bad_param(name: str, value: Any, allowed: str) -> ConfigError:
    """Build the one-line error for parameter ``name``: what was given and what is allowed."""
    return ConfigError(f"parameter '{name}': got {value!r}; allowed: {allowed}")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ConfigError listing them."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise bad_param(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (bool, NaN and +-inf are not)."""
    return not isinstance(value, bool) and (isinstance(value, int) or isinstance(value, float) and math.isfinite(value))


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> Any:
    """Return ``value`` if it is a finite positive (or non-negative) number of the right kind."""
    kind = "an integer" if integer else "a finite number"
    if not is_number(value) or (integer and not isinstance(value, int)) or (value < 0 if allow_zero else value <= 0):
        raise bad_param(name, value, kind + (" >= 0" if allow_zero else " > 0"))
    return value


def check_range(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` if it is finite and lo <= value <= hi (open ends as flagged), else raise ConfigError."""
    text = f"a finite number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if not is_number(value):
        raise bad_param(name, value, text)
    if (value <= lo if lo_open else value < lo) or (value >= hi if hi_open else value > hi):
        raise bad_param(name, value, text)
    return float(value)
