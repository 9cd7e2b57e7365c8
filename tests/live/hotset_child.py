"""A workload with a known hot set, for the trackers' live tests.

Maps a 64 MiB region and touches each page once, then a 16 MiB region that a
thread pinned to the CPUs of one node writes page by page, over and over, until
stdin closes.

After each pass the thread flushes its TLB (MADV_DONTNEED on 64 touched pages:
more than the kernel's 33-page single-flush ceiling, so a full flush). DAMON and
idle-page tracking clear a page's Accessed bit without a TLB flush; the CPU sets
it again only when it walks the page table. A real CPU's TLB holds about 1,500
translations and turns over within a pass of 4,096 pages; QEMU's emulated TLB
grows to hold them all, and without the flush DAMON saw no access to the hot
region at all (heat 0) in the guest. It prints one JSON line first: its pid, both regions' [start,
end) and the hammering thread's id. Run as ``python hotset_child.py CPU,...``.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
import threading

import numpy as np

MIB = 1 << 20
PAGE = mmap.PAGESIZE


def main() -> None:
    cpus = {int(cpu) for cpu in sys.argv[1].split(",")}
    cold_map = mmap.mmap(-1, 64 * MIB)
    hot_map = mmap.mmap(-1, 16 * MIB)
    cold = np.frombuffer(cold_map, dtype=np.uint64)
    hot = np.frombuffer(hot_map, dtype=np.uint64)
    cold[:: PAGE // 8] = 1
    hot[:: PAGE // 8] = 1
    started = threading.Event()
    stop = threading.Event()
    thread_id = [0]

    def hammer() -> None:
        thread_id[0] = threading.get_native_id()
        os.sched_setaffinity(0, cpus)
        started.set()
        pages = hot[:: PAGE // 8]
        flush_map = mmap.mmap(-1, 64 * PAGE)  # see the module's docstring
        flush = np.frombuffer(flush_map, dtype=np.uint8)
        while not stop.is_set():
            pages += 1
            flush[::PAGE] = 1
            flush_map.madvise(mmap.MADV_DONTNEED)

    worker = threading.Thread(target=hammer, daemon=True)
    worker.start()
    started.wait()
    address = np.frombuffer(cold_map, dtype=np.uint8).ctypes.data
    hot_address = np.frombuffer(hot_map, dtype=np.uint8).ctypes.data
    print(json.dumps({"pid": os.getpid(), "thread": thread_id[0],
                      "cold": [address, address + 64 * MIB], "hot": [hot_address, hot_address + 16 * MIB]}),
          flush=True)
    sys.stdin.read()
    stop.set()
    worker.join()


if __name__ == "__main__":
    main()
