"""User-facing errors.

Every error caused by bad input (an unknown name, a malformed architecture string, a bad
config value, a missing file) is a :class:`SpacenasError`. Its message is one line that says
what was wrong and what is allowed; the CLI prints it and exits with code 2.
"""
from __future__ import annotations

from collections.abc import Iterable


class SpacenasError(ValueError):
    """Bad input from the user: the message names the problem and what is allowed."""


def unknown(kind: str, value: object, allowed: Iterable[object]) -> SpacenasError:
    """Build the standard 'unknown X' error: ``unknown method 'foo' (allowed: a, b, c)``."""
    allowed_s = ", ".join(str(a) for a in allowed)
    return SpacenasError(f"unknown {kind} {value!r} (allowed: {allowed_s})")
