"""The profile log's files and lines: its parts oldest first, each line's JSON object, bad lines as data.

Both readers build on this: :mod:`.log` turns the objects into typed records, and
``numamove report`` hands them to :func:`numamove.profile.report.analyze` as they
are (a log of millions of regions is folded without a Python object per record).

File I/O on the user's own files only (the log and its rotated parts); no kernel
interface. May import: the standard library.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["FORMAT", "VERSION", "BadLine", "log_parts", "read_objects"]

FORMAT = "numamove-profile"
VERSION = 1
EXCERPT = 80


@dataclass(frozen=True)
class BadLine:
    """A line that is not a record: which file, which line (from 1), why, and its start."""

    file: str
    line: int
    why: str
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "why": self.why}


def log_parts(path: str | os.PathLike[str]) -> list[str]:
    """FILE's parts, oldest first: FILE.N ... FILE.1, then FILE (those that exist)."""
    base = os.fspath(path)
    count = next(index for index in itertools.count(1) if not os.path.exists(f"{base}.{index}")) - 1
    return [*(f"{base}.{index}" for index in range(count, 0, -1)), base]


def read_objects(path: str | os.PathLike[str]) -> Iterator[tuple[str, int, dict[str, Any]] | BadLine]:
    """Each line of FILE's parts, oldest part first, as (part, line number, its JSON object).

    Blank lines are skipped; a line that is not a JSON object, or a part that
    cannot be read on, comes as a :class:`BadLine` and the reading goes on.
    """
    for part in log_parts(path):
        try:
            file = open(part, encoding="utf-8", errors="replace")  # noqa: SIM115 (closed below)
        except OSError as error:
            yield BadLine(part, 0, f"cannot read it: {error.strerror or error}")
            continue
        with file:
            number = 0
            try:
                for number, text in enumerate(file, 1):
                    if not text.strip():
                        continue
                    try:
                        data = json.loads(text)
                    except (ValueError, RecursionError) as error:
                        cut = "" if text.endswith("\n") else " (the last line, cut short)"
                        yield BadLine(part, number, f"not JSON: {error}{cut}", text[:EXCERPT].rstrip("\n"))
                        continue
                    if not isinstance(data, dict):
                        yield BadLine(part, number, "not a JSON object", text[:EXCERPT].rstrip("\n"))
                        continue
                    yield part, number, data
            except OSError as error:
                yield BadLine(part, number + 1, f"cannot read on: {error.strerror or error}")
