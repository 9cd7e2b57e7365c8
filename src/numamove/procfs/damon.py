"""Parsers for the DAMON tracker: DAMON's sysfs values, numamove's ownership record, /proc/PID/stat's
identity and the kernel's build configuration. Pure.

- A DAMON sysfs value (``/sys/kernel/mm/damon/admin/kdamonds/N/...``: ``nr_kdamonds``,
  ``state``, ``pid``, a tried region's ``start``/``end``/``nr_accesses``/``age``) is one
  word and a newline.
- The ownership record is the small JSON file the DAMON tracker keeps beside the
  kernel (run/numamove-damon.json): which process made which kdamond, so that a
  later numamove can stop a kdamond whose owner was killed, and only that one.
- ``/proc/PID/stat`` gives a process's pid and start time (field 22, clock ticks
  since boot): together they name one process even after its pid is reused.
- ``/proc/config.gz`` (decompressed) or ``/boot/config-RELEASE``: ``CONFIG_X=y`` lines.

May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from numamove.errors import InvalidInputError
from numamove.procfs._text import decimal as _decimal

__all__ = ["OwnerRecord", "config_option", "parse_owner_record", "parse_signed", "parse_unsigned"]

RECORD_FORMAT = "numamove-damon"


def parse_unsigned(text: str, what: str) -> int:
    """One unsigned decimal word of a sysfs file ("17\\n"); InvalidInputError naming ``what`` if not."""
    value = _decimal(text.strip())
    if value is None:
        raise InvalidInputError(f"{what} holds {text.strip()!r}, not an unsigned number")
    return value


def parse_signed(text: str, what: str) -> int:
    """A decimal that may be negative: a kdamond's ``pid`` reads -1 while it is off."""
    word = text.strip()
    value = _decimal(word.removeprefix("-"))
    if value is None:
        raise InvalidInputError(f"{what} holds {word!r}, not a number")
    return -value if word.startswith("-") else value


def config_option(text: str, name: str) -> str | None:
    """The value of ``name`` (``CONFIG_DAMON_VADDR``) in a kernel config: "y", "m", a string, or None
    when the config says "is not set" or does not mention it."""
    prefix = name + "="
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


@dataclass(frozen=True)
class OwnerRecord:
    """Who made a kdamond: numamove's claim on it, kept in run/numamove-damon.json.

    ``owner_pid`` and ``owner_start`` (/proc/PID/stat field 22) name the numamove
    process; ``kdamond`` is the index of the first of its kdamonds' directories
    under /sys/kernel/mm/damon/admin/kdamonds (one kdamond per target, in the
    order of ``targets``, the pids they watch);
    ``marker`` the value numamove wrote to its schemes' ``access_pattern/sz/max``
    (larger than any region, so it filters nothing, and unlikely to be anyone
    else's); ``before`` what ``nr_kdamonds`` read before numamove raised it.
    """

    owner_pid: int
    owner_start: int
    kdamond: int
    targets: tuple[int, ...]
    marker: int
    before: int = 0

    def to_text(self) -> str:
        return json.dumps({"format": RECORD_FORMAT, "owner_pid": self.owner_pid,
                           "owner_start": self.owner_start, "kdamond": self.kdamond,
                           "targets": list(self.targets), "marker": self.marker,
                           "before": self.before}) + "\n"


CLEARED = json.dumps({"format": RECORD_FORMAT, "owner_pid": None}) + "\n"
"""The record's text once its kdamond is gone (the Kernel can write a file, not remove it)."""


def parse_owner_record(text: str) -> OwnerRecord | None:
    """The record in run/numamove-damon.json, or None when it is cleared, empty or not numamove's.

    A record that does not parse claims nothing: numamove then touches no kdamond on its word.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        return None
    try:
        numbers = [data[key] for key in ("owner_pid", "owner_start", "kdamond", "marker", "before")]
        targets = data["targets"]
    except KeyError:
        return None
    if (not all(type(n) is int and n >= 0 for n in numbers) or not isinstance(targets, list)
            or not all(type(t) is int and t > 0 for t in targets)):
        return None
    owner_pid, owner_start, kdamond, marker, before = numbers
    return OwnerRecord(owner_pid, owner_start, kdamond, tuple(targets), marker, before)
