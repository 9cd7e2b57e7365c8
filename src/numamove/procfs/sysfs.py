"""Parsers of small /proc and /sys files: meminfo, a node's meminfo and distances, memory blocks. Pure.

* :func:`parse_meminfo` reads ``/proc/meminfo``
* :func:`parse_node_meminfo` reads ``/sys/devices/system/node/nodeN/meminfo``
* :func:`parse_distance` reads ``/sys/devices/system/node/nodeN/distance``
* :func:`parse_memory_block_size` reads ``/sys/devices/system/memory/block_size_bytes``
* :func:`memory_blocks` reads the ``memoryM`` entries of a node directory's listing

May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from numamove.errors import InvalidInputError, TopologyError

__all__ = [
    "memory_blocks", "parse_distance", "parse_meminfo", "parse_memory_block_size", "parse_node_meminfo",
]  # fmt: skip

_MEMORY_ENTRY = re.compile(r"^memory(\d+)$", re.MULTILINE)


def parse_memory_block_size(text: str) -> int:
    """``/sys/devices/system/memory/block_size_bytes`` (hex without 0x: "8000000") -> bytes."""
    word = text.strip()
    if not word or not word.isascii() or any(c not in "0123456789abcdefABCDEF" for c in word):
        raise InvalidInputError(f"malformed /sys/devices/system/memory/block_size_bytes: {text!r}")
    size = int(word, 16)
    if size == 0:
        raise InvalidInputError(f"malformed /sys/devices/system/memory/block_size_bytes (zero): {text!r}")
    return size


def memory_blocks(entries: Iterable[str]) -> list[int]:
    """The memory block numbers among a node directory's entries ("memory32" -> 32).

    A node directory lists a few hundred entries: one regex pass, not a loop over them.
    """
    return [int(found) for found in _MEMORY_ENTRY.findall("\n".join(entries))]


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo -> {"MemTotal": bytes, "MemAvailable": bytes, ...}.

    Lines read "MemTotal:  1012345 kB"; counts without a unit (HugePages_Total)
    are kept as they are.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or not words[0].endswith(":"):
            continue
        try:
            number = int(words[1])
        except ValueError:
            continue
        values[words[0][:-1]] = number * 1024 if words[2:3] == ["kB"] else number
    return values


def parse_node_meminfo(text: str) -> dict[str, int]:
    """/sys/devices/system/node/nodeN/meminfo ("Node 0 MemTotal:  1012345 kB") -> as parse_meminfo."""
    return parse_meminfo("\n".join(line.split(None, 2)[2] for line in text.splitlines()
                                   if line.startswith("Node ") and len(line.split(None, 2)) == 3))


def parse_distance(text: str) -> tuple[int, ...]:
    """/sys/devices/system/node/nodeN/distance ("10 20 20") -> SLIT distances by node position."""
    try:
        return tuple(int(word) for word in text.split())
    except ValueError:
        raise TopologyError(f"malformed node distance line {text.strip()!r}") from None

