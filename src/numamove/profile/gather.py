"""What is gathered of one process while a profile log is read, for :mod:`.report` and :mod:`.regions`.

Region records are kept as they come and, every :data:`FOLD_RECORDS` of them,
checked column by column and folded into a
:class:`~numamove.profile.segments.SegmentTable`, the (accessing node, memory
node) pairs and, when asked, a per-interval timeline: memory stays bounded by
the union of region boundaries, not by the log's length.

Pure: numpy and the rest of numamove.profile's analysis; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from numamove.profile.checks import Irregular, check_region, columns
from numamove.profile.lines import BadLine
from numamove.profile.segments import SegmentTable

__all__ = ["FOLD_RECORDS", "ProcessGatherer"]

FOLD_RECORDS = 1 << 18
"""Region records gathered before they are folded into the segment table."""
Ints = npt.NDArray[np.int64]


class ProcessGatherer:
    """What is gathered of one process while the log is read."""

    def __init__(self, pid: int, name: str, keep_timeline: bool) -> None:
        self.pid = pid
        self.name = name
        self.times: dict[int, tuple[float | None, float | None]] = {}
        self.resident: dict[int, dict[int, int]] = {}
        self.working: dict[int, int] = {}
        self.vma_epochs: list[tuple[int, list[tuple[int, int, str]]]] = []
        self.table = SegmentTable()
        self.pairs = np.zeros((0, 0))
        self.timeline: list[tuple[int, Ints, Ints, npt.NDArray[np.float64]]] | None = (
            [] if keep_timeline else None)
        self.accessing_known = False
        self.invalid: list[BadLine] = []
        self._clear()

    def _clear(self) -> None:
        self.pending: list[Mapping[str, Any]] = []
        self.positions: list[int] = []

    def add_region(self, record: Mapping[str, Any], position: int) -> None:
        """Gather one region record (record ``position`` of the log); they are checked when folded."""
        self.pending.append(record)
        self.positions.append(position)
        if len(self.pending) >= FOLD_RECORDS:
            self.fold()

    def fold(self) -> None:
        """Check the gathered region records, then fold them into the segment table, the pairs, the timeline.

        The records are checked column by column; only a batch with a bad
        record is checked record by record, to name it and leave it out.
        """
        if not self.pending:
            return
        try:
            gathered = columns(self.pending)
        except Irregular:
            kept = []
            for position, record in zip(self.positions, self.pending, strict=True):
                try:
                    check_region(record)
                    kept.append(record)
                except (ValueError, TypeError, OverflowError) as error:
                    self.invalid.append(BadLine("", position, f"record {position} (region): {error}"))
            gathered = columns(kept)
        self._clear()
        if gathered is not None:
            self._fold(*gathered)

    def _fold(self, starts: Ints, ends: Ints, index: Ints, heat: npt.NDArray[np.float64],
              written: npt.NDArray[np.int8], pages: npt.NDArray[np.float64], access: npt.NDArray[np.float64],
              known: npt.NDArray[np.bool_]) -> None:
        count = len(starts)
        columns = pages.shape[1]
        self.accessing_known = self.accessing_known or bool(known.any())
        intervals, slots = np.unique(index, return_inverse=True)
        working = np.bincount(slots, weights=(ends - starts) * (heat > 0), minlength=len(intervals))
        for interval, size in zip(intervals.tolist(), working.tolist(), strict=True):
            self.working[interval] = self.working.get(interval, 0) + int(size)
            self.times.setdefault(interval, (None, None))
        size = (ends - starts).astype(np.float64)
        resident = pages.sum(axis=1)
        placed = resident > 0
        place_share = np.divide(pages, resident[:, None], out=np.zeros_like(pages), where=placed[:, None])
        local = (access * place_share).sum(axis=1)
        counted = known & placed
        self.table.add(starts, ends, {
            "cover": np.ones(count), "hot": (heat > 0).astype(np.float64),
            "written": (written == 1).astype(np.float64), "unwritten": (written == 0).astype(np.float64),
            "known": known.astype(np.float64), "heat": heat, "pages": pages / size[:, None],
            "access_heat": access * heat[:, None], "access": access, "known_heat": heat * known,
            "remote": heat * (1 - local) * counted, "counted": heat * counted,
        })
        weight = heat * size * counted
        if self.pairs.shape[0] < columns:
            self.pairs = np.pad(self.pairs, ((0, columns - self.pairs.shape[0]),) * 2)
        self.pairs[:columns, :columns] += np.einsum("n,na,nm->am", weight, access, place_share)
        if self.timeline is not None:
            order = np.argsort(index, kind="stable")
            cuts = np.flatnonzero(np.diff(index[order])) + 1
            for part in np.split(order, cuts):
                self.timeline.append((int(index[part[0]]), starts[part], ends[part], heat[part]))
