"""What a move did: MoveResult and the move_pages(2) call-time histogram. Plain data.

Counts are in base pages: a huge page counts its 512. Touches no kernel interface.

May import: numpy, numamove.status.
"""

from __future__ import annotations

import math
import mmap
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from numamove.status import PageStatus

__all__ = ["HUGE_PAGES", "INTERRUPTED", "PAGE_SIZE", "CallTimes", "MoveResult", "pair_counts", "status_name",
           "weighted_counts"]

PAGE_SIZE = mmap.PAGESIZE
HUGE_PAGES = (2 << 20) // PAGE_SIZE  # base pages in a PMD-mapped THP with 4 KiB pages

INTERRUPTED = "interrupted"
"""``MoveResult.stopped`` when ``stop()`` ended the move."""

_SHARED = int(PageStatus.SHARED)


class CallTimes:
    """The durations of move_pages(2) calls in constant memory: a log-scale histogram.

    Bins are 1% wide from 1 us to 1000 s, so the median is within 1%; the count,
    the total and the maximum are exact.
    """

    LOW, BINS_PER_DECADE, DECADES = 1e-6, 230, 9

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS_PER_DECADE * self.DECADES + 1, dtype=np.int64)
        self.count = 0
        self.total = 0.0
        self.longest = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.longest = max(self.longest, seconds)
        scaled = math.log10(max(seconds, self.LOW) / self.LOW) * self.BINS_PER_DECADE
        self.counts[min(int(scaled), len(self.counts) - 1)] += 1

    @property
    def median(self) -> float:
        """The median call time in seconds (0 without calls), the middle of its 1% bin."""
        if not self.count:
            return 0.0
        index = int(np.searchsorted(np.cumsum(self.counts), (self.count + 1) // 2))
        return min(self.LOW * 10 ** ((index + 0.5) / self.BINS_PER_DECADE), self.longest)

    def to_dict(self) -> dict[str, float]:
        return {"median_ms": self.median * 1000, "max_ms": self.longest * 1000,
                "mean_ms": self.total / self.count * 1000 if self.count else 0.0}



@dataclass
class MoveResult:
    """What a move did, page by page counted in base pages."""

    moved: dict[tuple[int, int], int] = field(default_factory=dict)
    """Base pages moved per (source node, target node)."""
    statuses: dict[int, int] = field(default_factory=dict)
    """Base pages per final status of the units asked to move: the target node, or -errno."""
    already_there: int = 0
    not_present: int = 0
    calls: int = 0
    retries: int = 0
    fallbacks: int = 0
    """Base pages placed on another allowed node because their target was full."""
    seconds: float = 0.0
    call_times: CallTimes = field(default_factory=CallTimes)
    """How long each move_pages(2) call took: median and maximum."""
    stopped: str | None = None
    """Why the move stopped early: "interrupted" (``stop`` said so), the process exited, or None."""
    not_tried: int = 0
    """Base pages never asked to move because the move stopped first (exit or interruption)."""
    skipped_shared: int = 0
    """Base pages left where they are because other processes map them too (-EACCES without
    MPOL_MF_MOVE_ALL): not a failure of a move that did not ask for them."""

    @property
    def longest_call(self) -> float:
        return self.call_times.longest

    @property
    def interrupted(self) -> bool:
        return self.stopped == INTERRUPTED

    @property
    def pages_moved(self) -> int:
        return sum(self.moved.values())

    @property
    def bytes_moved(self) -> int:
        return self.pages_moved * PAGE_SIZE

    @property
    def mb_per_second(self) -> float:
        return self.bytes_moved / 1e6 / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> dict[int, int]:
        """Base pages per negative status: what could move but did not end where it was asked to.

        Pages skipped as shared (see ``skipped_shared``) are not in it.
        """
        return {status: count for status, count in self.statuses.items()
                if status < 0 and not (status == _SHARED and self.skipped_shared)}

    def to_dict(self) -> dict[str, object]:
        return {
            "moved": [{"from": a, "to": b, "pages": n, "bytes": n * PAGE_SIZE}
                      for (a, b), n in sorted(self.moved.items())],
            "pages_moved": self.pages_moved,
            "bytes_moved": self.bytes_moved,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failed": {status_name(k): v for k, v in self.failed.items()},
            "skipped_shared": self.skipped_shared,
            "not_tried": self.not_tried,
            "already_there": self.already_there,
            "not_present": self.not_present,
            "calls": self.calls,
            "retries": self.retries,
            "fallbacks": self.fallbacks,
            "seconds": self.seconds,
            "mb_per_second": self.mb_per_second,
            "longest_call_ms": self.longest_call * 1000,
            "call_ms": self.call_times.to_dict(),
            "stopped": self.stopped,
        }


def status_name(status: int) -> str:
    """A page status's errno name (\"EBUSY\"), or the number when it is not one."""
    try:
        return PageStatus(status).errno_name
    except ValueError:
        return str(status)


def pair_counts(sources: npt.NDArray[np.int32], targets: npt.NDArray[np.int32],
                pages: npt.NDArray[np.int64]) -> dict[tuple[int, int], int]:
    """Base pages per (source, target) pair: one bincount over source * width + target."""
    if len(sources) == 0:
        return {}
    low_source, high_source = int(sources.min()), int(sources.max())
    low_target, high_target = int(targets.min()), int(targets.max())
    if low_source == high_source and low_target == high_target:  # one pair: a sum, no table
        return {(low_source, low_target): int(pages.sum())}
    width = max(high_source, high_target) + 1
    keys = sources.astype(np.int64)
    keys *= width
    keys += targets
    sums = np.bincount(keys, weights=pages)
    return {(int(key) // width, int(key) % width): int(sums[key]) for key in np.flatnonzero(sums)}


def weighted_counts(values: npt.NDArray[np.int32], weights: npt.NDArray[np.int64]) -> dict[int, int]:
    """Base pages per status: a bincount over node ids, a sort only for the rare failures."""
    counts: dict[int, int] = {}
    nodes = values >= 0
    if nodes.any():
        sums = np.bincount(values[nodes], weights=weights[nodes])
        counts.update({int(node): int(sums[node]) for node in np.flatnonzero(sums)})
    if not nodes.all():
        failed, inverse = np.unique(values[~nodes], return_inverse=True)
        totals = np.bincount(inverse.ravel(), weights=weights[~nodes], minlength=len(failed))
        counts.update({int(status): int(total) for status, total in zip(failed, totals, strict=True)})
    return counts
