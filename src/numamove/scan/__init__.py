"""Scans: where the memory of a process (or of several, as one application) lives.

Where does a page's node come from? Per VMA, from /proc/PID/numa_maps
(:mod:`.process`). Per page, from /proc/PID/pagemap, read by the one chunked
reader (:mod:`.reader`), then (:mod:`.placement`) either the page's PFN looked
up in the memory-block map (:mod:`numamove.topology.frames`, method "pagemap",
needs CAP_SYS_ADMIN) or a move_pages(2) query (method "query"). The results are
:mod:`numamove.model` objects.

- :mod:`.process`: :func:`scan_process`, :class:`ScanOptions`, threads' nodes
- :mod:`.application`: :func:`scan_application`
- :mod:`.placement`: PFN -> node or move_pages placement; counts or per-page arrays
- :mod:`.reader`: the one chunked pagemap reader and its reusable buffers
- :mod:`.probes`: what our own pagemap shows (PFNs visible? the zero pages' frames)

Reads and calls only through a :class:`numamove.kernel.Kernel`; caches (CPU map,
memory-block map, zero-page frames, chunk buffers) are kept on that Kernel.
May import: numpy, :mod:`numamove.kernel`, :mod:`numamove.procfs`, :mod:`numamove.topology`,
:mod:`numamove.model`, :mod:`numamove.units`; never the command line.
"""

from __future__ import annotations

from numamove.scan.application import scan_application
from numamove.scan.process import ScanOptions, check_ranges, read_threads, scan, scan_process

__all__ = ["ScanOptions", "check_ranges", "read_threads", "scan", "scan_application", "scan_process"]
