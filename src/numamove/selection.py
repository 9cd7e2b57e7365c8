"""What part of a process the caller asks for: ``--vma`` and ``--range``, parsed and checked. Pure.

:func:`vma_selector` turns a kind name or a regular expression into a
predicate on :class:`~numamove.model.Vma`; :func:`parse_address_range` reads
an address range (the scan orders and checks several: ``scan.check_ranges``). Their messages name the
command's options (--vma, --range); the scan takes the results, never the text.

May import: :mod:`numamove.model`, :mod:`numamove.units`, :mod:`numamove.errors`. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from numamove._inputs import compile_pattern
from numamove.errors import InvalidInputError
from numamove.model import Vma, VmaKind
from numamove.units import PAGE_SIZE

__all__ = ["ADDRESS_LIMIT", "parse_address_range", "vma_selector"]


def vma_selector(text: str) -> Callable[[Vma], bool]:
    """``--vma``: a kind name ("heap", "file", "thp"...) or a regular expression on the path."""
    kinds = {kind.value for kind in VmaKind}
    if text in kinds:
        return lambda vma: vma.kind.value == text
    if text == "thp":
        return lambda vma: bool(vma.thp_pages)
    pattern = compile_pattern(text, "--vma", hint=f" nor a kind ({', '.join(sorted(kinds))})")
    return lambda vma: bool(pattern.search(vma.path))


ADDRESS_LIMIT = 1 << 64  # no virtual address, on any architecture, reaches 2**64
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+", re.ASCII)  # hex or decimal, ASCII digits only
_ADDRESS_DIGITS = 64  # longer than any address below 2**64 needs, even with leading zeros


def parse_address_range(text: str) -> tuple[int, int]:
    """ "0x7f00000000-0x7f00200000" or decimal -> (start, end), half-open and page aligned.

    Both ends are ASCII hex (0x...) or decimal, and the end is at most 2**64.
    """
    low, dash, high = (word.strip() for word in text.strip().partition("-"))
    if not dash or not _ADDRESS.fullmatch(low) or not _ADDRESS.fullmatch(high):
        raise InvalidInputError(
            f"bad range {text!r}: expected START-END in hex (0x...) or decimal ASCII digits, "
            "e.g. 0x7f0000000000-0x7f0000200000"
        )
    if max(len(low), len(high)) > _ADDRESS_DIGITS:  # and int() never meets a 5,000-digit number
        raise InvalidInputError(f"bad range {text[:60]!r}...: addresses stop at 2**64 ({ADDRESS_LIMIT:#x})")
    start, end = (int(word, 16) if word[:2] in ("0x", "0X") else int(word, 10) for word in (low, high))
    if end > ADDRESS_LIMIT:
        raise InvalidInputError(f"bad range {text!r}: addresses stop at 2**64 ({ADDRESS_LIMIT:#x})")
    if start >= end:
        raise InvalidInputError(f"bad range {text!r}: the start must be below the end")
    if start % PAGE_SIZE or end % PAGE_SIZE:
        raise InvalidInputError(f"bad range {text!r}: start and end must be multiples of {PAGE_SIZE}")
    return start, end

