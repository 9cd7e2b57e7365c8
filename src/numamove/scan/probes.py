"""Questions numamove asks its own process's pagemap, answered once per Kernel.

- :func:`sees_pfns`: does pagemap show this reader real PFNs? (CAP_SYS_ADMIN in
  the initial user namespace; a container's root gets zeros.)
- :func:`zero_page_pfns`: the frames of the shared zero page and the huge zero
  page, which no node holds.

Both read /proc/self/pagemap through the Kernel, about memory of our own
(mmap). What they find is kept on the Kernel (:meth:`Kernel.kept`).
May import: numpy, :mod:`numamove.kernel`, :mod:`numamove.procfs`, :mod:`numamove.units`.
"""

from __future__ import annotations

import mmap

import numpy as np
import numpy.typing as npt

from numamove.kernel import Kernel
from numamove.procfs.pagemap import PM_PFN_MASK, PM_PRESENT, frame_numbers, present
from numamove.units import HUGE_PAGE_SIZE, PAGE_SIZE

__all__ = ["sees_pfns", "zero_page_pfns"]


def sees_pfns(kernel: Kernel) -> bool:
    """Whether pagemap shows this process real PFNs, asked of pagemap itself.

    The kernel shows them to a reader with CAP_SYS_ADMIN in the initial user
    namespace: a container's root has the capability in its own namespace but
    gets zeros, so the capability sets in /proc/self/status cannot tell.
    """
    entry = own_written_page_entry(kernel)
    return entry is not None and bool(entry & PM_PRESENT) and bool(entry & PM_PFN_MASK)


def own_written_page_entry(kernel: Kernel) -> int | None:
    """The /proc/self/pagemap entry of a page of numamove's own that was just written, or None
    when pagemap cannot be read. What the kernel shows there (a PFN, the soft-dirty bit) it
    shows for other processes' pages alike."""
    probe = kernel.kept("scan.own_page", lambda: np.zeros(2 * PAGE_SIZE // 8, dtype=np.uint64))
    probe[:] = 1  # written: both pages are present (and soft-dirty, where the kernel keeps the bit)
    page = (probe.ctypes.data + PAGE_SIZE - 1) // PAGE_SIZE  # the first page wholly inside
    entry = np.zeros(1, dtype=np.uint64)
    try:
        with kernel.open("proc/self/pagemap") as own:
            kernel.read_into(own, entry, page * 8)
    except OSError:
        return None
    return int(entry[0])


def zero_page_pfns(kernel: Kernel) -> npt.NDArray[np.uint64]:
    """The PFNs of the shared zero page and the huge zero page, read from pages of our own.

    pagemap shows a read-faulted page as present on the zero page, but that is
    no node's memory: move_pages(2) says -EFAULT and numa_maps skips it, so the
    PFN view must too. A read of a 2 MiB-aligned THP-eligible block maps the
    huge zero page (when THP's use_zero_page is on); a one-page mapping can
    only get the 4 KiB one.
    """
    return kernel.kept("scan.zero_page_pfns", lambda: _find_zero_pages(kernel))


def _find_zero_pages(kernel: Kernel) -> npt.NDArray[np.uint64]:
    huge = HUGE_PAGE_SIZE
    found = [np.empty(0, dtype=np.uint64)]
    for length in (PAGE_SIZE, 2 * huge):
        probe = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
        try:
            base = np.frombuffer(probe, dtype=np.uint8).ctypes.data
            first = -base % huge if length > PAGE_SIZE else 0  # the 2 MiB-aligned block
            if length > PAGE_SIZE and hasattr(mmap, "MADV_HUGEPAGE"):
                probe.madvise(mmap.MADV_HUGEPAGE, first, huge)
            _ = probe[first]  # a read fault maps a zero page
            entries = np.zeros(length // PAGE_SIZE, dtype=np.uint64)
            with kernel.open("proc/self/pagemap") as own:
                kernel.read_into(own, entries, base // PAGE_SIZE * 8)
            found.append(frame_numbers(entries[present(entries)]))
        finally:
            probe.close()
    return np.unique(np.concatenate(found))
