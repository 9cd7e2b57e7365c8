"""Parser of ``/proc/vmstat``: one ``name value`` counter a line. Pure.

:data:`NUMA_PREFIXES` picks the NUMA ones: the allocation counters
(numa_hit, numa_miss, numa_local, numa_other, ...), NUMA balancing's
(numa_pte_updates, numa_hint_faults, numa_hint_faults_local,
numa_pages_migrated) and memory tiering's (pgpromote_success,
pgpromote_candidate, pgdemote_kswapd, pgdemote_direct, pgdemote_khugepaged).
May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

from typing import Final

from numamove.procfs._text import decimal as _decimal
from numamove.procfs._text import malformed as _malformed

__all__ = ["NUMA_PREFIXES", "numa_counters", "parse_vmstat"]

NUMA_PREFIXES: Final = ("numa_", "pgpromote_", "pgdemote_")


def parse_vmstat(text: str) -> dict[str, int]:
    """``/proc/vmstat`` -> {counter name: value}.

    Raises :class:`~numamove.errors.InvalidInputError` naming the line for one
    that is not a name and an unsigned count (a few counters, nr_*, may
    briefly read negative per CPU, but the file sums them and prints >= 0).
    """
    counters: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        words = line.split(" ")
        value = _decimal(words[1]) if len(words) == 2 and words[0] else None
        if value is None:
            raise _malformed("/proc/vmstat", number, line, "not 'name count'")
        counters[words[0]] = value
    return counters


def numa_counters(counters: dict[str, int]) -> dict[str, int]:
    """The NUMA counters of :func:`parse_vmstat`'s result (names starting with :data:`NUMA_PREFIXES`)."""
    return {name: value for name, value in counters.items() if name.startswith(NUMA_PREFIXES)}
