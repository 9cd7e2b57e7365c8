"""Per-page statuses that move_pages(2) writes, decoded for people.

A status is a node id (>= 0) or a negative errno. Failures are data: a whole
status array is summarised with numpy, never walked page by page in Python.
Pure: touches no kernel file. May import: numpy, :mod:`numamove._inputs`, :mod:`numamove.errors`.
"""

from __future__ import annotations

import enum
import errno

import numpy as np
import numpy.typing as npt

from numamove._inputs import check_int
from numamove.errors import InputTypeError

__all__ = ["PageStatus", "describe_status", "status_counts"]


class PageStatus(enum.IntEnum):
    """The negative per-page statuses of move_pages(2) (mm/migrate.c).

    Kernels differ for a never-touched anonymous page: 6.1 reports it as
    ``FAULT`` (follow_page() with FOLL_DUMP), 6.12 as ``NOT_PRESENT``
    (folio_walk_start() finds no folio).
    """

    NOT_PRESENT = -errno.ENOENT
    SHARED = -errno.EACCES
    LOCKED = -errno.EPERM
    BUSY = -errno.EBUSY
    FAULT = -errno.EFAULT
    NODE_FULL = -errno.ENOMEM
    WRITEBACK_FAILED = -errno.EIO
    NOT_MIGRATABLE = -errno.EINVAL

    @property
    def errno_name(self) -> str:
        """"-ENOENT" and so on."""
        return "-" + errno.errorcode[-self.value]

    @property
    def description(self) -> str:
        """What the status means and what to do about it."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    PageStatus.NOT_PRESENT: (
        "not present: the page was never touched, or it is swapped out; "
        "there is nothing to move until it is faulted in"),
    PageStatus.SHARED: (
        "mapped by several processes: only MPOL_MF_MOVE_ALL (with CAP_SYS_NICE) moves it"),
    PageStatus.LOCKED: (
        "locked in memory (mlock) or otherwise pinned: unlock it or leave it where it is"),
    PageStatus.BUSY: (
        "busy: under I/O or pinned by the kernel at the moment; retry later"),
    PageStatus.FAULT: (
        "bad address: not mapped, a zero page, or a special mapping that cannot move "
        "(6.1 also says this for a never-touched page)"),
    PageStatus.NODE_FULL: (
        "the target node has no free memory: free some there or choose another node"),
    PageStatus.WRITEBACK_FAILED: (
        "a dirty page could not be written back before the move; retry after writeback"),
    PageStatus.NOT_MIGRATABLE: (
        "a dirty page whose file system cannot migrate it, or a page of a kind that does not move"),
}


def describe_status(status: int) -> str:
    """One status in words: "node 2" for a node, else the PageStatus's description."""
    status = check_int(status, "status")
    if status >= 0:
        return f"node {status}"
    try:
        page_status = PageStatus(status)
    except ValueError:
        return f"error {status} ({errno.errorcode.get(-status, 'unknown errno')})"
    return f"{page_status.errno_name}: {page_status.description}"


def status_counts(statuses: npt.ArrayLike) -> dict[int, int]:
    """How many pages have each status value, in ascending order of status."""
    if isinstance(statuses, (str, bytes)) or statuses is None:
        raise InputTypeError(f"statuses must be an array of page statuses, not {type(statuses).__name__}")
    try:
        array = np.asarray(statuses)
    except (TypeError, ValueError):
        raise InputTypeError("statuses must be an array of page statuses (ints)") from None
    if array.dtype.kind not in "iu" and array.size:
        raise InputTypeError(f"statuses must be integers (node ids or -errno), not {array.dtype}")
    values, counts = np.unique(array, return_counts=True)
    return {int(value): int(count) for value, count in zip(values, counts, strict=True)}
