"""A profile log kept in memory: what ``plan`` and the daemon record for one decision.

The recorder writes it as it writes a file (the same records, merged the same
way); nothing touches a file. May import: :mod:`.log`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from numamove.profile.log import Header, ProfileWriter, to_json

__all__ = ["MemoryLog"]


class MemoryLog(ProfileWriter):
    """A profile log kept in memory, whole (no size cap, no file): what ``plan`` and the daemon
    record for one decision. ``objects()`` gives its records as parsed JSON objects."""

    def __init__(self, header: Header) -> None:
        self.path = "(memory)"
        self.header = replace(header, part=0)
        self.max_size, self.keep = 1 << 62, 0
        self.size = self.total = self.regions = self.intervals = self.intervals_in_part = 0
        self.ended = False
        self._vmas = {}
        self.lines: list[str] = []
        self._put([to_json(self.header)])

    def _put(self, lines: Sequence[str]) -> None:
        self.lines.extend(lines)
        size = sum(len(line) + 1 for line in lines)
        self.size += size
        self.total += size

    def close(self) -> None:
        self.ended = True

    def objects(self) -> Iterator[dict[str, Any]]:
        return (json.loads(line) for line in self.lines)
