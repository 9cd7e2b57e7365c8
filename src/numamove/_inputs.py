"""Checks of caller input, shared by the library and the CLI. Pure: no I/O.

Each check names the argument it refuses and why, with :class:`InvalidInputError`
(a bad value) or :class:`InputTypeError` (a bad type). Text is read as ASCII
digits only: Python's ``int()`` also reads "١٢٣" as 123, which numactl refuses.
May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

import numbers
import re
import warnings
from collections.abc import Iterable

from numamove.errors import InputTypeError, InvalidInputError

__all__ = [
    "INT32_MAX", "ascii_int", "check_int", "check_pid", "compile_pattern", "node_ids", "parse_duration",
    "parse_size",
]

INT32_MAX = 2**31 - 1
_DIGITS = {10: frozenset("0123456789"), 16: frozenset("0123456789abcdefABCDEF")}


def ascii_int(text: str, what: str, *, base: int = 10, limit: int | None = None) -> int:
    """A non-negative integer written in ASCII digits, nothing else.

    ``base`` is 10, 16, or 0 for "0x..." as hex and anything else as decimal.
    No sign, space, underscore or non-ASCII digit is accepted. With ``limit``,
    values at or above it are refused: the digits are checked before Python
    builds an integer of their length.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"{what} must be a string of digits, not {type(text).__name__}")
    digits = text
    if base == 0:
        base = 10
        if digits[:2].lower() == "0x":
            digits, base = digits[2:], 16
    if base not in _DIGITS:
        raise ValueError(f"base must be 0, 10 or 16, not {base}")
    if not digits or not _DIGITS[base].issuperset(digits):
        kind = "hexadecimal" if base == 16 else "decimal"
        raise InvalidInputError(f"{what}: {text!r} is not a {kind} number in ASCII digits")
    significant = digits.lstrip("0")
    # Past 64 digits a value is beyond any limit this program uses (and int() refuses 4300+).
    if len(significant) > (64 if limit is not None else 4000):
        most = "" if limit is None else f" (at most {limit - 1})"
        raise InvalidInputError(f"{what}: {text[:24]!r}... is far too large{most}")
    value = int(significant or "0", base)
    if limit is not None and value >= limit:
        raise InvalidInputError(f"{what}: {value} is too large (at most {limit - 1})")
    return value


def check_int(value: object, what: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer argument (a Python or numpy integer, never a bool or float) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{what} must be an int, not {type(value).__name__}")
    number = int(value)
    if low is not None and number < low:
        raise InvalidInputError(f"{what} must be at least {low}, not {number}")
    if high is not None and number > high:
        raise InvalidInputError(f"{what} must be at most {high}, not {number}")
    return number


def check_pid(pid: object, what: str = "pid") -> int:
    """A process id: an int from 0 (the caller) to 2**31 - 1."""
    if isinstance(pid, bool) or not isinstance(pid, numbers.Integral):
        raise InputTypeError(f"{what} must be an int, not {type(pid).__name__}")
    number = int(pid)
    if number < 0:
        raise InvalidInputError(f"{what} must be 0 (the caller) or positive, not {number}")
    if number > INT32_MAX:
        raise InvalidInputError(f"{what} {number} is out of range")
    return number


def node_ids(nodes: Iterable[int], what: str, limit: int) -> frozenset[int]:
    """Node ids from an iterable of ints, each in [0, limit).

    Refused one by one as they come, so a huge range stops at its first id
    past ``limit`` instead of being read whole.
    """
    if isinstance(nodes, (str, bytes, bytearray, memoryview)) or not isinstance(nodes, Iterable):
        raise InputTypeError(f"{what} must be node ids (ints) or a nodemask string, "
                             f"not {type(nodes).__name__}")
    chosen: set[int] = set()
    for node in nodes:
        if isinstance(node, bool) or not isinstance(node, numbers.Integral):
            raise InputTypeError(f"{what} must hold node ids (ints), not {type(node).__name__} {node!r}")
        if node < 0:
            raise InvalidInputError(f"{what}: node {int(node)} is negative")
        if node >= limit:
            raise InvalidInputError(f"{what}: node {int(node)} does not exist "
                                    f"(the highest possible node is {limit - 1})")
        chosen.add(int(node))
    return frozenset(chosen)


def compile_pattern(text: str, what: str, *, hint: str = "") -> re.Pattern[str]:
    """A caller's regular expression, or :class:`InvalidInputError` naming ``what``.

    Besides ``re.error``, a repeat count past the engine's limit (``a{99999999999}``)
    raises OverflowError and deep nesting RecursionError; the engine's FutureWarnings
    ("possible nested set" for ``[[:alpha:]]``) would print on the terminal, so they are
    silenced: the pattern means what Python reads today.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(text)
    except (re.error, OverflowError, RecursionError) as error:
        shown = text if len(text) <= 60 else text[:60] + "..."
        raise InvalidInputError(
            f"{what} {shown!r} is not a valid regular expression{hint}: {error}") from None


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)?", re.ASCII)
_SECONDS_PER = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, what: str, *, low: float | None = None, high: float | None = None) -> float:
    """Seconds from "5", "2.5s", "100ms", "500us", "10m" or "1h" (a bare number is seconds).

    ASCII digits only; no sign, exponent, nan or inf. ``low`` and ``high`` bound
    the result in seconds, both included, and the error names them.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"{what} must be a duration like 5s or 100ms, not {type(text).__name__}")
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise InvalidInputError(f"{what} must be a duration like 5s, 100ms or 500us, not {text!r}")
    seconds = float(match.group(1)) * _SECONDS_PER[match.group(2)]
    if (low is not None and seconds < low) or (high is not None and seconds > high):
        bounds = f"from {_show(low)} to {_show(high)}" if low is not None and high is not None else (
            f"at least {_show(low)}" if low is not None else f"at most {_show(high)}")
        raise InvalidInputError(f"{what} must be {bounds}, not {text!r}")
    return seconds


def _show(seconds: float | None) -> str:
    assert seconds is not None
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}us"


_SIZE = re.compile(r"([0-9]{1,15})([KMGT]?)(?:I?B)?", re.ASCII)


def parse_size(text: str, what: str, *, low: int = 0, high: int = 1 << 50) -> int:
    """Bytes from "256M", "1G", "64KiB" or "4096" (K, M, G, T are powers of 1024), ``low`` to ``high``."""
    match = _SIZE.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInputError(f"{what} must be a size like 256M, 1G or 65536, not {text!r}")
    size = int(match.group(1)) << (10 * " KMGT".index(match.group(2) or " "))
    if not low <= size <= high:
        raise InvalidInputError(f"{what} must be from {_size_text(low)} to {_size_text(high)}, not {text!r}")
    return size


def _size_text(size: int) -> str:
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if size and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)
