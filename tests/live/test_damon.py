"""The DAMON tracker on the guest's 6.12 kernel (DAMON vaddr): what it sees, and that it cleans up.

"Hot bytes reported" in one sample: the bytes of the regions whose heat is at
least half of that sample's highest heat. Cleanup is checked on the kernel's
own files: after every exit path, kdamonds/nr_kdamonds reads 0 (numamove's
kdamond is off and removed) and numamove's ownership record claims nothing.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from numamove.errors import KernelError, NoSuchProcessError
from numamove.kernel import Kernel
from numamove.procfs.damon import parse_owner_record
from numamove.trackers import get, tracking
from numamove.trackers.damon import HEAT_UNIT, RECORD, DamonTracker

from .conftest import Layout, hot_set_workload, other_cpus, pinned_to

KDAMONDS = Path("/sys/kernel/mm/damon/admin/kdamonds")
CHILD = Path(__file__).with_name("damon_child.py")


def read(path: Path) -> str:
    """A DAMON sysfs file; EBUSY while another process's command holds DAMON's sysfs lock: try again."""
    for _ in range(1000):
        try:
            return path.read_text().strip()
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise
            time.sleep(0.01)
    raise AssertionError(f"{path} stayed busy")


def kdamond_states() -> list[str]:
    count = int(read(KDAMONDS / "nr_kdamonds"))
    return [read(KDAMONDS / str(k) / "state") for k in range(count)]


def assert_clean() -> None:
    assert kdamond_states() == [], "numamove left a kdamond behind"
    with suppress(FileNotFoundError):
        assert parse_owner_record(Path("/", RECORD).read_text()) is None


@pytest.fixture(autouse=True)
def no_kdamond_before_or_after() -> Iterator[None]:
    assert kdamond_states() == [], "a kdamond was left by an earlier test"
    yield
    states = kdamond_states()
    for k, state in enumerate(states):  # leave the guest clean for the next test, then fail
        if state == "on":
            (KDAMONDS / str(k) / "state").write_text("off")
    (KDAMONDS / "nr_kdamonds").write_text("0")
    assert states == []


def test_damon_ranks_the_hot_region_first(layout: Layout) -> None:
    assert DamonTracker.unavailable(Kernel()) is None
    with hot_set_workload(layout) as workload:
        # One pass of the emulated guest's hammering thread over the 16 MiB takes a few ms: sampled every
        # 5 ms the hot region reads below the ceiling that the interpreter's own pages reach. Every 20 ms,
        # each sample sees a pass.
        tracker = get("damon")(Kernel(), [workload.pid], {"sample": "20ms", "aggregation": "200ms"})
        samples = []
        with pinned_to(other_cpus(workload.node)), tracking(tracker):
            deadline = time.monotonic() + 4  # DAMON needs a few aggregations to split out the hot set
            while time.monotonic() < deadline:
                list(tracker.sample())
            for _ in range(10):
                samples.append(list(tracker.sample()))
        assert_clean()
    start, end = workload.hot
    reported = inside = 0
    for regions in samples:
        assert regions and all(r.pid == workload.pid and r.heat_unit == HEAT_UNIT for r in regions)
        assert all(a.end <= b.start for a, b in itertools.pairwise(regions))
        top = max(regions, key=lambda r: r.heat)
        for region in regions:
            if region.heat >= top.heat / 2:
                reported += region.size
                inside += max(0, min(region.end, end) - max(region.start, start))
    # Ranked first: the first region of all samples ranked by heat, then by size (heat saturates at one
    # access per sampling interval, and single pages the hammering thread's interpreter touches reach it
    # too), is the hot region. DAMON's bounds are approximate: 90% of its bytes inside it.
    # Within a tenth of the ceiling, heats tie: a thread descheduled for a few samples costs the hot
    # region that much, while a page of the interpreter stays at the ceiling.
    seen = [r for regions in samples for r in regions]
    peak = max(r.heat for r in seen)
    hottest = max((r for r in seen if r.heat >= 0.9 * peak), key=lambda r: r.size)
    overlap = max(0, min(hottest.end, end) - max(hottest.start, start))
    assert overlap >= 0.9 * hottest.size, (hex(hottest.start), hex(hottest.end), workload.hot)
    assert inside >= 0.9 * reported, f"{inside} of {reported} hot bytes inside the hot region"
    assert hottest.heat <= 1 / 0.020 + 1e-9  # at most one access per 20 ms sampling interval
    # Age in seconds: memory the workload never touches again keeps its pattern (no access) for the
    # 4 s and more that DAMON has watched it, while its age counts 200 ms aggregation intervals.
    ages = [-1.0 if r.age is None else r.age for r in seen]
    assert min(ages) >= 0, ages
    assert max(ages) >= 1.0, sorted(set(ages))[-5:]


def test_damon_keeps_several_targets_apart(layout: Layout) -> None:
    idle = subprocess.Popen(["sleep", "120"])
    try:
        with hot_set_workload(layout) as workload:
            # Two kdamonds on the emulated guest: a longer aggregation, so that DAMON applies its scheme
            # before an update's timeout (two aggregation intervals of wall time) and fills each sample.
            tracker = get("damon")(Kernel(), [workload.pid, idle.pid], {"aggregation": "200ms"})
            with tracking(tracker):
                deadline = time.monotonic() + 4  # DAMON needs a few aggregations to find the hot set
                while time.monotonic() < deadline:
                    list(tracker.sample())
                samples = [list(tracker.sample()) for _ in range(5)]
            assert_clean()
    finally:
        idle.kill()
        idle.wait()
    heat = {workload.pid: 0.0, idle.pid: 0.0}
    for regions in samples:
        assert [r.pid for r in regions] == sorted(r.pid for r in regions)
        for pid in heat:
            mine = [r for r in regions if r.pid == pid]
            assert mine, f"no region of {pid}"
            assert all(a.end <= b.start for a, b in itertools.pairwise(mine)), f"pid {pid} overlaps"
            heat[pid] = max(heat[pid], *(r.heat for r in mine))
    assert heat[workload.pid] > 0 and heat[idle.pid] < heat[workload.pid] / 4, heat


@contextmanager
def numamove_child(pids: list[int]) -> Iterator[subprocess.Popen[str]]:
    """A separate numamove process tracking ``pids`` with DAMON, once it has started its kdamond."""
    child = subprocess.Popen([sys.executable, str(CHILD), ",".join(map(str, pids))],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert json.loads(line)["started"], line
        assert kdamond_states() == ["on"]
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


@pytest.mark.parametrize(("signum", "status", "said"), [(signal.SIGTERM, 143, "terminated"),
                                                        (signal.SIGINT, 130, "interrupted")])
def test_a_signal_stops_and_removes_the_kdamond(layout: Layout, signum: int, status: int, said: str) -> None:
    with hot_set_workload(layout) as workload, numamove_child([workload.pid]) as child:
        time.sleep(0.5)
        child.send_signal(signum)
        out, _ = child.communicate(timeout=60)
        assert (child.returncode, out.strip()) == (status, said)
        assert_clean()


def test_the_targets_exit_stops_and_removes_the_kdamond() -> None:
    target = subprocess.Popen(["sleep", "120"])
    with numamove_child([target.pid]) as child:
        time.sleep(0.5)
        target.kill()
        target.wait()
        out, _ = child.communicate(timeout=60)
        assert (child.returncode, out.strip()) == (0, "target exited")
        assert_clean()


def test_a_killed_numamoves_kdamond_is_stopped_by_the_next_start(layout: Layout) -> None:
    with hot_set_workload(layout) as workload:
        with numamove_child([workload.pid]) as child:
            child.send_signal(signal.SIGKILL)
            child.wait()
            assert kdamond_states() == ["on"], "SIGKILL left no kdamond: nothing to recover"
            record = parse_owner_record(Path("/", RECORD).read_text())
            assert record is not None and record.owner_pid == child.pid
        assert DamonTracker.unavailable(Kernel()) is None  # a dead numamove's kdamond does not make it busy
        tracker = get("damon")(Kernel(), [workload.pid], {})
        with tracking(tracker):
            assert isinstance(tracker, DamonTracker)
            assert len(tracker.warnings) == 1
            assert tracker.warnings[0].startswith(f"stopped kdamond 0 that numamove pid {child.pid} ")
            assert kdamond_states() == ["on"]
            assert list(tracker.sample())
        assert_clean()


def test_a_foreign_kdamond_is_left_alone_and_makes_damon_busy(layout: Layout) -> None:
    idle = subprocess.Popen(["sleep", "120"])
    context = KDAMONDS / "0" / "contexts" / "0"
    try:
        (KDAMONDS / "nr_kdamonds").write_text("1")
        (KDAMONDS / "0" / "contexts" / "nr_contexts").write_text("1")
        (context / "operations").write_text("vaddr")
        (context / "targets" / "nr_targets").write_text("1")
        (context / "targets" / "0" / "pid_target").write_text(str(idle.pid))
        (KDAMONDS / "0" / "state").write_text("on")
        busy = "DAMON is busy: kdamond 0 runs (not numamove's)"
        assert DamonTracker.unavailable(Kernel()) == busy
        tracker = get("damon")(Kernel(), [os.getpid()], {})
        with (pytest.raises(KernelError, match=r"^DAMON is busy: kdamond 0 runs \(not numamove's\)$"),
              tracking(tracker)):
            pass
        assert kdamond_states() == ["on"]
        assert (context / "targets" / "0" / "pid_target").read_text().strip() == str(idle.pid)
        (KDAMONDS / "0" / "state").write_text("off")
        # Off but set up: numamove would erase its settings by writing nr_kdamonds, so it still refuses.
        with pytest.raises(KernelError, match="set up but off"):
            get("damon")(Kernel(), [os.getpid()], {}).start()
        assert (context / "operations").read_text().strip() == "vaddr"
    finally:
        idle.kill()
        idle.wait()
        with suppress(OSError):
            (KDAMONDS / "0" / "state").write_text("off")
        (KDAMONDS / "nr_kdamonds").write_text("0")


def test_a_missing_target_is_refused_and_leaves_nothing() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    with (pytest.raises(NoSuchProcessError, match=f"process {gone.pid} does not exist"),
          tracking(get("damon")(Kernel(), [gone.pid], {}))):
        pass
    assert_clean()
