"""A process whose memory is bound to one node while its thread works from another.

32 MiB of base pages (no THP), bound to node MEMORY with MPOL_BIND |
MPOL_F_NUMA_BALANCING (NUMA balancing scans them but cannot move them off the
node), written once by the main thread, then by a thread pinned to the CPUs
of node WORKER over and over until stdin closes. Prints one JSON line first:
pid, the thread's id, the region. Run as ``python remote_child.py MEMORY WORKER``.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
import threading

import numpy as np

import numamove
from numamove.move.mempolicy import MPOL_F_NUMA_BALANCING

MIB = 1 << 20
PAGE = mmap.PAGESIZE
MPOL_BIND = 2


def main() -> None:
    memory, worker_node = int(sys.argv[1]), int(sys.argv[2])
    topology = numamove.read_topology()
    os.sched_setaffinity(0, set(topology.node(memory).cpus) or set(topology.node(0).cpus))
    region = mmap.mmap(-1, 32 * MIB)
    region.madvise(mmap.MADV_NOHUGEPAGE)
    words = np.frombuffer(region, dtype=np.uint64)
    start = int(words.ctypes.data)
    numamove.mbind(start, 32 * MIB, MPOL_BIND | MPOL_F_NUMA_BALANCING, [memory])
    words[:: PAGE // 8] = 1
    started = threading.Event()
    stop = threading.Event()
    thread_id = [0]

    def hammer() -> None:
        thread_id[0] = threading.get_native_id()
        os.sched_setaffinity(0, set(topology.node(worker_node).cpus))
        started.set()
        pages = words[:: PAGE // 8]
        while not stop.is_set():
            pages += 1

    worker = threading.Thread(target=hammer, daemon=True)
    worker.start()
    started.wait()
    print(json.dumps({"pid": os.getpid(), "thread": thread_id[0], "region": [start, start + 32 * MIB]}),
          flush=True)
    sys.stdin.read()
    stop.set()
    worker.join()


if __name__ == "__main__":
    main()
