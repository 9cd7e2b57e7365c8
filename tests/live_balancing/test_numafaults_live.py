"""Live, with NUMA balancing on: hinting faults are counted by memory node, and a thread working on
another node's memory is not local."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

import numamove
from numamove.kernel import Kernel
from numamove.trackers import get, tracking
from numamove.trackers.numafaults import NumaFaults, read_numa_faults, read_vmstat_numa

MEMORY, WORKER = 0, 1
WAIT = 90.0


def test_remote_thread_faults_on_the_memory_node_with_a_low_local_share(fast_scanner: None) -> None:
    kernel = Kernel()
    assert get("numafaults").unavailable(kernel) is None
    hints_before = read_vmstat_numa(kernel)["numa_hint_faults"]
    script = os.path.join(os.path.dirname(__file__), "remote_child.py")
    child = subprocess.Popen([sys.executable, script, str(MEMORY), str(WORKER)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        facts = json.loads(child.stdout.readline())
        pid, thread = facts["pid"], facts["thread"]
        tracker = get("numafaults")(kernel, [pid], {})
        heat = 0.0
        shares: list[dict[int, float]] = []
        with tracking(tracker):
            deadline = time.monotonic() + WAIT
            done = False
            while not done:
                time.sleep(1.0)
                faults = read_numa_faults(kernel, pid)
                done = faults.threads[thread].faults[MEMORY].task >= 512 or time.monotonic() > deadline
                for region in tracker.sample():  # after the read: it sees at least what the read saw
                    heat += region.heat
                    if region.accessing_nodes:
                        shares.append(dict(region.accessing_nodes))
        start, end = facts["region"]
        where = numamove.move_pages(pid, np.arange(start, end, 4096 * 64, dtype=np.uint64))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    worker = faults.threads[thread]
    print(f"worker: current node {worker.current_node}, faults by memory node "
          f"{ {n: f.task for n, f in worker.faults.items()} }, process local share {faults.local_share}, "
          f"tracker heat {heat}, shares {shares[-3:]}")
    assert worker.current_node == WORKER
    assert (where == MEMORY).all()  # bound: balancing scanned the pages but could not move them
    assert worker.faults[MEMORY].task >= 512, worker.faults  # counted on the page's node ...
    # ... not the thread's (its own stack and the interpreter's objects it allocates are on its node:
    # seen 19 to 1084 faults there against 599 to 8195 on the bound memory's node)
    assert worker.faults[WORKER].task < worker.faults[MEMORY].task / 2
    # The worker's own share is low; the whole process's mixes in the main thread, which ran on the
    # memory's node (its faults there are local), so it is not asserted.
    alone = NumaFaults(pid, {thread: worker}).local_share
    assert alone is not None and alone < 0.5
    assert heat > 0 and any(share.get(WORKER, 0) > 0.5 for share in shares)
    assert read_vmstat_numa(kernel)["numa_hint_faults"] > hints_before
