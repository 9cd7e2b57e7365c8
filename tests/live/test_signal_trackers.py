"""Live: the threads tracker on the hot-set workload, and the plain words of the trackers this boot lacks.

The shared live suite runs with NUMA balancing off (booted with
numa_balancing=disable, kept at 0 by conftest), and Debian's 6.12 kernel has no
page_idle: the numafaults and idlepage trackers must say so. The numafaults
tracker's own live test boots with balancing on (tests/live_balancing/).
"""

from __future__ import annotations

import time

from numamove.kernel import Kernel
from numamove.trackers import available, get, tracking
from numamove.trackers.numafaults import read_vmstat_numa
from numamove.trackers.threads import read_thread_nodes

from .conftest import Layout, hot_set_workload


def test_threads_tracker_puts_the_hot_threads_cpu_on_its_node(layout: Layout) -> None:
    kernel = Kernel()
    with hot_set_workload(layout) as work:
        tracker = get("threads")(kernel, [work.pid], {})
        with tracking(tracker):
            time.sleep(2.0)
            (region,) = tracker.sample()
        threads = {t.tid: t for t in read_thread_nodes(kernel, work.pid)}
    assert threads[work.thread].node == work.node == layout.cpu_nodes[1]
    assert region.pid == work.pid and region.start <= work.hot[0] and work.hot[1] <= region.end
    assert region.accessing_nodes is not None
    assert region.accessing_nodes.get(work.node, 0.0) >= 0.8, region.accessing_nodes
    assert region.heat > 0.3, region.heat  # the hammering thread keeps a CPU busy


def test_numafaults_says_numa_balancing_is_off() -> None:
    why = get("numafaults").unavailable(Kernel())
    assert why == ("automatic NUMA balancing is off (/proc/sys/kernel/numa_balancing is 0): "
                   "enable with sysctl kernel.numa_balancing=1")
    assert available(Kernel())["numafaults"].why == why
    counters = read_vmstat_numa(Kernel())  # the counters are there all the same
    assert counters["numa_hit"] > 0 and "numa_hint_faults" in counters and "pgpromote_success" in counters


def test_idlepage_says_page_idle_is_not_built() -> None:
    why = get("idlepage").unavailable(Kernel())
    assert why is not None
    assert why.startswith("page_idle is not built into this kernel (CONFIG_IDLE_PAGE_TRACKING)")
    assert not available(Kernel())["idlepage"].usable
