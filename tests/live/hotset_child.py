"""A workload with a known hot set, for the trackers' live tests.

Maps a 64 MiB region and touches each page once, then a 16 MiB region that a
thread pinned to the CPUs of one node writes page by page, over and over, until
stdin closes. It prints one JSON line first: its pid, both regions' [start,
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
        while not stop.is_set():
            pages += 1

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
