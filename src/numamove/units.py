"""Sizes and markers that every layer shares, defined once. Pure: imports nothing of numamove.

- ``PAGE_SIZE``: the base page size (``mmap.PAGESIZE``); numamove counts pages in these.
- ``HUGE_PAGE_SIZE`` / ``HUGE_PAGES``: a PMD-mapped transparent huge page (2 MiB on
  x86_64 and on aarch64 with 4 KiB pages), in bytes and in base pages.
- ``BATCH_PAGES``: pages per move_pages(2) call.
- ``CHUNK_PAGES``: /proc/PID/pagemap entries read and counted at a time.
- ``NOT_PRESENT`` / ``ZERO_PAGE``: the node markers of a page that is not in memory
  (-ENOENT, as move_pages(2) reports it) and of a page on the shared zero page
  (-EFAULT, which no node holds).
"""

from __future__ import annotations

import errno
import mmap
from typing import Final

__all__ = [
    "BATCH_PAGES", "CHUNK_PAGES", "HUGE_PAGES", "HUGE_PAGE_SIZE", "NOT_PRESENT", "PAGE_SIZE", "ZERO_PAGE",
]  # fmt: skip

PAGE_SIZE: Final = mmap.PAGESIZE
HUGE_PAGE_SIZE: Final = 2 << 20
HUGE_PAGES: Final = HUGE_PAGE_SIZE // PAGE_SIZE
"""Base pages in a PMD-mapped THP (512 with 4 KiB pages)."""
BATCH_PAGES: Final = 1 << 16
"""Pages per move_pages(2) call: 512 KiB of addresses, short enough to stay responsive."""
CHUNK_PAGES: Final = 1 << 16
"""pagemap entries read and counted at a time when per-page arrays are not kept: 512 KiB."""
NOT_PRESENT: Final = -errno.ENOENT
ZERO_PAGE: Final = -errno.EFAULT
