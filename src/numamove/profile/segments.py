"""The union of region boundaries over time, with per-byte sums over each piece, for profile reports.

A tracker's regions split and merge between intervals; a report ranks memory
on the union of every boundary it saw, so that a region split in two keeps its
heat in both halves. :class:`SegmentTable` holds that union as sorted
boundaries and, per piece ("segment"), sums of per-byte values over every
region record that covered it. Records are added in batches: each batch costs
O(records + segments), whatever the regions' sizes.

Pure numpy: no I/O, no kernel interface.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SegmentTable", "spread"]

Floats = npt.NDArray[np.float64]
Addresses = npt.NDArray[np.int64]


def spread(first: npt.NDArray[np.intp], last: npt.NDArray[np.intp], weights: Floats, count: int) -> Floats:
    """Per segment, the sum of ``weights`` of the records covering segments ``[first, last)``.

    A difference array and one cumulative sum; the sum runs in extended
    precision so that large sums elsewhere leave no visible residue.
    """
    diff = np.bincount(first, weights=weights, minlength=count + 1)
    diff -= np.bincount(last, weights=weights, minlength=count + 1)
    return np.cumsum(diff[:count], dtype=np.longdouble).astype(np.float64)


class SegmentTable:
    """Sorted boundaries (``bounds``, addresses) and named per-segment sums (``sums``).

    Segment ``i`` is ``[bounds[i], bounds[i + 1])``. A sum is 1-D (one value
    per segment) or 2-D (a column per node); the columns grow as new nodes
    appear. Pieces between regions stay in the table with zero sums.
    """

    def __init__(self) -> None:
        self.bounds: Addresses = np.empty(0, dtype=np.int64)
        self.sums: dict[str, Floats] = {}

    @property
    def size(self) -> int:
        """The number of segments."""
        return max(len(self.bounds) - 1, 0)

    def add(self, starts: Addresses, ends: Addresses, values: dict[str, Floats]) -> None:
        """Split the table at the records' boundaries, then add each record's ``values`` to its segments.

        ``values[name]`` holds one row per record: a per-byte quantity (a
        heat, a count of 1, pages per byte), added to every segment the
        record covers. Records of one batch may overlap (several intervals).
        """
        self.split(np.concatenate([starts, ends]))
        count = self.size
        first = np.searchsorted(self.bounds, starts)
        last = np.searchsorted(self.bounds, ends)
        for name, value in values.items():
            total = self._sum(name, value.shape[1] if value.ndim == 2 else None)
            if value.ndim == 1:
                total += spread(first, last, value, count)
            else:
                for column in range(value.shape[1]):
                    total[:, column] += spread(first, last, value[:, column], count)

    def split(self, points: Addresses) -> None:
        """Add boundaries at ``points``; a split segment keeps its sums in both halves (they are per byte)."""
        bounds = np.union1d(self.bounds, points).astype(np.int64)
        if len(bounds) == len(self.bounds):
            return
        old = self.bounds
        if len(old) >= 2:
            owner = np.searchsorted(old, bounds[:-1], side="right") - 1
            inside = (owner >= 0) & (owner < len(old) - 1)
            for name, total in self.sums.items():
                grown = np.zeros((len(bounds) - 1, *total.shape[1:]), dtype=np.float64)
                grown[inside] = total[owner[inside]]
                self.sums[name] = grown
        else:
            self.sums = {name: np.zeros((max(len(bounds) - 1, 0), *total.shape[1:]))
                         for name, total in self.sums.items()}
        self.bounds = bounds

    def _sum(self, name: str, columns: int | None) -> Floats:
        """The sums called ``name``, made (zeros) or widened to ``columns`` (None: one value per segment)."""
        total = self.sums.get(name)
        if total is None:
            total = np.zeros(self.size if columns is None else (self.size, columns), dtype=np.float64)
        elif columns is not None and columns > total.shape[1]:
            total = np.pad(total, ((0, 0), (0, columns - total.shape[1])))
        self.sums[name] = total
        return total

    def get(self, name: str, columns: int | None = None) -> Floats:
        """A copy of the sums called ``name`` (zeros if nothing was added under it): one value per
        segment, or with ``columns``, a row per segment at least that wide."""
        total = self.sums.get(name)
        if columns is None:
            return np.zeros(self.size) if total is None else total.copy()
        if total is None:
            return np.zeros((self.size, columns))
        return np.pad(total, ((0, 0), (0, max(columns - total.shape[1], 0))))
