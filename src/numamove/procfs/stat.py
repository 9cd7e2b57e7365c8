"""Parsers of ``/proc/PID/status`` and ``/proc/PID/task/TID/stat`` (or ``/proc/PID/stat``). Pure.

May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from numamove.procfs._text import decimal as _decimal
from numamove.procfs._text import malformed as _malformed

__all__ = ["TaskStat", "parse_status", "parse_task_stat"]


def parse_status(text: str) -> dict[str, str]:
    """/proc/PID/status -> {"Name": "bash", "Mems_allowed_list": "0-2", ...}."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields




@dataclass(frozen=True)
class TaskStat:
    """The fields numamove reads from ``/proc/PID/task/TID/stat``.

    ``processor`` (field 39) is the CPU the task last ran on.
    """

    tid: int
    comm: str
    state: str
    processor: int
    utime: int = 0
    """User CPU time in USER_HZ ticks (field 14)."""
    stime: int = 0
    """System CPU time in USER_HZ ticks (field 15)."""
    start_time: int = 0
    """Start time in clock ticks since boot (field 22): with the pid, it names one process."""


_PROCESSOR_FIELD: Final = 39
_UTIME_FIELD: Final = 14
_START_TIME_FIELD: Final = 22


def parse_task_stat(text: str) -> TaskStat:
    """``/proc/PID/task/TID/stat`` or ``/proc/PID/stat`` -> :class:`TaskStat`.

    The command name is printed raw between parentheses and may itself hold
    spaces, ")" or a newline, so it ends at the last ")".
    """
    kind = "/proc/PID/task/TID/stat"
    line = text.rstrip("\n")
    head, sep, _ = line.partition(" (")
    close = line.rfind(")")
    tid = _decimal(head)
    if not sep or tid is None or close < len(head) + 2:
        raise _malformed(kind, 1, line, "not 'tid (comm) state ...'")
    fields = line[close + 1 :].split()  # fields 3 onwards
    if len(fields) < _PROCESSOR_FIELD - 2:
        raise _malformed(kind, 1, line, f"{len(fields) + 2} fields, expected at least {_PROCESSOR_FIELD}")
    processor = _decimal(fields[_PROCESSOR_FIELD - 3])
    utime, stime = _decimal(fields[_UTIME_FIELD - 3]), _decimal(fields[_UTIME_FIELD - 2])
    start_time = _decimal(fields[_START_TIME_FIELD - 3])
    if processor is None or len(fields[0]) != 1:
        raise _malformed(kind, 1, line, "bad state or processor field")
    if utime is None or stime is None or start_time is None:
        raise _malformed(kind, 1, line, "utime, stime or the start time is not a count of ticks")
    return TaskStat(tid=tid, comm=line[len(head) + 2 : close], state=fields[0], processor=processor,
                    utime=utime, stime=stime, start_time=start_time)

