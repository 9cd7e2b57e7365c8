"""Decoding of ``/proc/PID/pagemap`` entries (Documentation/admin-guide/mm/pagemap.rst). Pure.

One entry (native-endian uint64) per virtual page: bit 63 present, 62
swapped, 61 file page or shared anonymous, 56 exclusive, 55 soft-dirty,
bits 0-54 the PFN (present pages, readers with CAP_SYS_ADMIN only) or the
swap entry. :func:`decode_pagemap` splits whole arrays into named fields;
the scan's chunked reader uses the same definitions through the small
whole-array helpers here (:func:`present`, :func:`count_swapped`,
:func:`frame_numbers`), which read PM_PRESENT as the sign of the entry;
the soft-dirty tracker through :func:`written` (bit 55 on a page) and
:func:`true_runs` (a mask's runs, as index ranges).
May import: numpy, :mod:`numamove.errors`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from numamove.errors import InputTypeError, InvalidInputError

__all__ = [
    "PM_EXCLUSIVE",
    "PM_FILE",
    "PM_GUARD_REGION",
    "PM_PFN_MASK",
    "PM_PRESENT",
    "PM_SOFT_DIRTY",
    "PM_SWAP",
    "PM_SWAP_OFFSET_SHIFT",
    "PM_SWAP_TYPE_MASK",
    "PM_UFFD_WP",
    "Pagemap",
    "count_swapped",
    "decode_pagemap",
    "frame_numbers",
    "present",
    "soft_dirty",
    "swapped",
    "true_runs",
    "written",
]

# /proc/PID/pagemap  (Documentation/admin-guide/mm/pagemap.rst)

PM_PRESENT: Final = 1 << 63
PM_SWAP: Final = 1 << 62
PM_FILE: Final = 1 << 61
"""The page is a file page or shared anonymous memory."""
PM_GUARD_REGION: Final = 1 << 58
"""The PTE is a guard region (MADV_GUARD_INSTALL, since Linux 6.15)."""
PM_UFFD_WP: Final = 1 << 57
PM_EXCLUSIVE: Final = 1 << 56
"""The page is mapped exactly once (Linux 4.2+)."""
PM_SOFT_DIRTY: Final = 1 << 55
PM_PFN_MASK: Final = (1 << 55) - 1
"""Bits 0-54: the PFN when present, the swap entry when swapped."""
PM_SWAP_TYPE_MASK: Final = 0x1F
PM_SWAP_OFFSET_SHIFT: Final = 5

_U8 = npt.NDArray[np.uint8]
_U64 = npt.NDArray[np.uint64]
_BOOL = npt.NDArray[np.bool_]

# The flag bits 56-63 share one byte of each entry and bit 55 is the top bit
# of the next one; testing bytes moves an eighth of the memory that testing
# the whole 64-bit words does.
_TOP_BYTE: Final = 7 if sys.byteorder == "little" else 0
_NEXT_BYTE: Final = 6 if sys.byteorder == "little" else 1


def _has_bit(raw: _U64, bit: int) -> _BOOL:
    flags: _BOOL = (raw & np.uint64(bit)) != 0
    return flags


@dataclass(frozen=True, eq=False)
class Pagemap:
    """Decoded ``/proc/PID/pagemap`` entries, one array element per virtual page.

    ``pfn`` is 0 where the page is not present, and everywhere when the
    reader lacked CAP_SYS_ADMIN (the kernel zeroes PFNs for it).
    ``swap_type``/``swap_offset`` are 0 where the page is not swapped.
    "Swapped" includes non-swap entries: a page caught mid-migration reads
    as swapped with one of the top swap types, and (for a privileged reader)
    its PFN as the offset. Recent kernels hide swap offsets from readers
    without CAP_SYS_ADMIN. ``raw`` holds the entries as read.
    """

    raw: _U64
    present: _BOOL
    swapped: _BOOL
    file_or_shared: _BOOL
    exclusive: _BOOL
    soft_dirty: _BOOL
    pfn: _U64
    swap_type: _U64
    swap_offset: _U64

    def __len__(self) -> int:
        return int(self.raw.shape[0])

    @property
    def uffd_wp(self) -> _BOOL:
        """PTE write-protected by userfaultfd (computed on use: rarely wanted)."""
        return _has_bit(self.raw, PM_UFFD_WP)

    @property
    def guard_region(self) -> _BOOL:
        """PTE is a guard region (computed on use: rarely wanted)."""
        return _has_bit(self.raw, PM_GUARD_REGION)


def _as_entries(data: bytes | bytearray | memoryview | npt.NDArray[np.generic]) -> _U64:
    if isinstance(data, np.ndarray):
        if data.dtype != np.dtype(np.uint64):
            raise InputTypeError(f"pagemap entries must be a native uint64 array, not {data.dtype}")
        return np.ascontiguousarray(data).reshape(-1)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputTypeError(f"pagemap data must be bytes or a uint64 array, not {type(data).__name__}")
    nbytes = memoryview(data).nbytes
    if nbytes % 8:
        raise InvalidInputError(
            f"/proc/PID/pagemap data of {nbytes} bytes is not a whole number of 8-byte entries"
        )
    return np.frombuffer(data, dtype=np.uint64)


def _zeros_unless(mask: _BOOL, values: _U64) -> _U64:
    values *= mask  # in place: zero where mask is False
    return values


def decode_pagemap(data: bytes | bytearray | memoryview | npt.NDArray[np.generic]) -> Pagemap:
    """Split ``/proc/PID/pagemap`` entries (native-endian uint64, one per page) into their fields.

    ``data`` is the bytes read from the file (a whole number of entries) or
    a uint64 array of them; neither is copied when it is contiguous.
    """
    raw = _as_entries(data)
    as_bytes: _U8 = raw.view(np.uint8)
    top = np.ascontiguousarray(as_bytes[_TOP_BYTE::8])
    present = (top & np.uint8(PM_PRESENT >> 56)) != 0
    swapped = (top & np.uint8(PM_SWAP >> 56)) != 0
    file_or_shared = (top & np.uint8(PM_FILE >> 56)) != 0
    exclusive = (top & np.uint8(PM_EXCLUSIVE >> 56)) != 0
    soft_dirty = (as_bytes[_NEXT_BYTE::8] & np.uint8(PM_SOFT_DIRTY >> 48)) != 0

    low = raw & np.uint64(PM_PFN_MASK)
    if swapped.any():
        swap_type = _zeros_unless(swapped, low & np.uint64(PM_SWAP_TYPE_MASK))
        swap_offset = _zeros_unless(swapped, low >> np.uint64(PM_SWAP_OFFSET_SHIFT))
    else:
        # The usual case; np.zeros costs next to nothing until written.
        swap_type = np.zeros(raw.shape, np.uint64)
        swap_offset = np.zeros(raw.shape, np.uint64)
    return Pagemap(
        raw=raw,
        present=present,
        swapped=swapped,
        file_or_shared=file_or_shared,
        exclusive=exclusive,
        soft_dirty=soft_dirty,
        pfn=_zeros_unless(present, low),
        swap_type=swap_type,
        swap_offset=swap_offset,
    )



# Whole-array helpers for the scan's chunked reader: as int64, PM_PRESENT is the sign, so one
# comparison tells present pages; swap entries (bit 62, not present) are the values >= PM_SWAP.


def present(raw: _U64, out: _BOOL | None = None) -> _BOOL:
    """Whether each entry is a present page (into ``out`` when given)."""
    found: _BOOL = np.less(raw.view(np.int64), 0, out=out)
    return found


def swapped(raw: _U64) -> _BOOL:
    """Whether each entry is swapped (or another non-present swap entry, such as a migration)."""
    found: _BOOL = raw.view(np.int64) >= PM_SWAP
    return found


def count_swapped(raw: _U64) -> int:
    """How many entries are swapped: one reduction answers for the usual chunk, which has none."""
    entries = raw.view(np.int64)
    if len(entries) == 0 or int(entries.max()) < PM_SWAP:
        return 0
    return int(np.count_nonzero(entries >= PM_SWAP))


def frame_numbers(raw: _U64) -> _U64:
    """The PFN bits (0-54) of each entry: a frame for a present page seen with CAP_SYS_ADMIN."""
    found: _U64 = raw & np.uint64(PM_PFN_MASK)
    return found


# Soft-dirty (Documentation/admin-guide/mm/soft-dirty.rst): bit 55 is set on a page written since
# the last "4" written to /proc/PID/clear_refs.


def soft_dirty(raw: _U64, out: _BOOL | None = None) -> _BOOL:
    """Whether each entry has its soft-dirty bit (55) set (into ``out`` when given).

    The kernel also sets it on every page of a mapping made since the last
    clear (the mapping's VM_SOFTDIRTY flag), pages never touched included:
    :func:`written` leaves those out.
    """
    found: _BOOL = np.not_equal(raw & np.uint64(PM_SOFT_DIRTY), 0, out=out)
    return found


_FLAGS: Final = np.uint64(PM_PRESENT | PM_SWAP | PM_SOFT_DIRTY)
_WRITTEN_PRESENT: Final = np.uint64(PM_PRESENT | PM_SOFT_DIRTY)
_WRITTEN_SWAPPED: Final = np.uint64(PM_SWAP | PM_SOFT_DIRTY)


def written(raw: _U64, out: _BOOL | None = None, scratch: _U64 | None = None) -> _BOOL:
    """Whether each entry is a page written since the last clear: soft-dirty, and present or swapped.

    An entry with no page (never touched) reads soft-dirty in a mapping made
    since the last clear, but nothing was written there. ``out`` and
    ``scratch`` (as long as ``raw``) are reused buffers: a fresh 512 KiB
    array costs a page fault per 4 KiB.
    """
    # The three flags in one pass, one comparison for the present pages (the kernel never sets
    # present and swapped together); swapped entries are the only ones at least PM_SWAP as int64,
    # so one reduction tells whether the rare second comparison is needed.
    flags = np.bitwise_and(raw, _FLAGS, out=scratch)
    found: _BOOL = np.equal(flags, _WRITTEN_PRESENT, out=out)
    if len(flags) and int(flags.view(np.int64).max()) >= PM_SWAP:
        found |= flags == _WRITTEN_SWAPPED
    return found


def true_runs(mask: _BOOL, breaks: npt.NDArray[np.intp] | None = None, *, guarded: bool = False,
              ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The runs of True in ``mask`` as two index arrays, ``starts`` and ``ends`` (half-open).

    ``breaks`` are indices where a run must end and a new one begin even when
    the mask stays True across them (the start of a read of pagemap that does
    not follow the one before it in the address space). With ``guarded`` the
    first and last elements of ``mask`` are False guards around the real
    mask, which saves a copy: a caller reuses such a buffer; the indices
    returned are then those of the elements between the guards.
    """
    if not guarded:
        padded = np.zeros(len(mask) + 2, dtype=np.bool_)
        padded[1:-1] = mask
        mask = padded
    # Between False guards, the indices where the value changes alternate start, end, start, end...
    edges = (mask[1:] != mask[:-1]).nonzero()[0]
    starts, ends = edges[0::2], edges[1::2]
    if breaks is not None and len(breaks) and len(starts):
        inner = mask[1:-1]
        cut = breaks[(breaks > 0) & (breaks < len(inner))]
        cut = cut[inner[cut] & inner[cut - 1]]  # a break inside a run splits it
        if len(cut):
            starts = np.sort(np.concatenate([starts, cut]))
            ends = np.sort(np.concatenate([ends, cut]))
    return starts, ends
