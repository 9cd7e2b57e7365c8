"""The scan of several processes seen as one application (a shared page counts once).

May import: :mod:`numamove.kernel`, :mod:`numamove.model`, :mod:`.process`.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterable
from typing import Any

from numamove.errors import NoSuchProcessError
from numamove.kernel import DEFAULT, Kernel, takes_kernel_or_default
from numamove.model import Application, ProcessMemory, combine
from numamove.scan.process import ScanOptions, scan

__all__ = ["scan_application"]


@takes_kernel_or_default
def scan_application(pids: Iterable[int], *, kernel: Kernel = DEFAULT, **options: Any) -> Application:
    """Scan several processes and count their pages once each.

    ``options`` are :class:`ScanOptions`'s fields; the per-page view is always read and kept.
    With PFNs (CAP_SYS_ADMIN) a physical page is one page whoever maps it.
    Without them, pages of shared files and shared memory are identified by
    (device, inode, file page), and private anonymous pages count per process.
    """
    chosen = dataclasses.replace(ScanOptions(**options), pages=True, keep_pages=True)
    processes: list[ProcessMemory] = []
    for pid in pids:
        try:
            processes.append(scan(kernel, pid, chosen))
        except NoSuchProcessError:
            continue  # exited meanwhile: the rest of the application still counts
    if not processes:
        raise NoSuchProcessError(errno.ESRCH, "none of the processes exists any more", "")
    return combine(processes)
