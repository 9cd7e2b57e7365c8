"""Helpers the text parsers share: the malformed-line error and strict decimals. Pure."""

from __future__ import annotations

from numamove.errors import InvalidInputError

__all__ = ["DELETED", "decimal", "malformed"]

DELETED = " (deleted)"
"""The suffix maps and numa_maps give the path of a file deleted since it was mapped."""


def malformed(kind: str, lineno: int, line: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"malformed {kind} line {lineno} ({why}): {line!r}")


def decimal(word: str) -> int | None:
    """A plain unsigned decimal, or None: int() would also take "+1", "1_0" and non-ASCII digits."""
    if word.isascii() and word.isdigit():
        return int(word)
    return None
