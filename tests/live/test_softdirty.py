"""The soft-dirty tracker on real processes: the hot set found, an exit reported, another user refused."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time

import pytest

from numamove.errors import NoSuchProcessError, NotPermittedError
from numamove.kernel import Kernel
from numamove.trackers import Region, tracking
from numamove.trackers.softdirty import HEAT_UNIT, SoftDirtyTracker

from .conftest import Channel, Layout, forked, hot_set_workload

INTERVALS = 5
INTERVAL = 1.0  # seconds: a pass over the hot region takes a write fault per page after a clear


def usable(kernel: Kernel) -> bool:
    """Whether the guest's kernel tracks soft-dirty bits; when it does not, the reason is in plain words."""
    why = SoftDirtyTracker.unavailable(kernel)
    if why is not None:
        assert "CONFIG_MEM_SOFT_DIRTY" in why or "CONFIG_PROC_PAGE_MONITOR" in why, why
    return why is None


def inside(region: Region, span: tuple[int, int]) -> int:
    """Bytes of ``region`` inside ``span``."""
    return max(0, min(region.end, span[1]) - max(region.start, span[0]))


def ranked(samples: list[list[Region]]) -> list[tuple[int, int, int]]:
    """Address ranges ranked by the number of intervals they were written in, then by size:
    (intervals, start, end), hottest first, as a report ranks them."""
    edges = sorted({edge for sample in samples for r in sample for edge in (r.start, r.end)})
    pieces = []
    for start, end in itertools.pairwise(edges):
        count = sum(any(r.start <= start and end <= r.end for r in sample) for sample in samples)
        if count:
            pieces.append((count, start, end))
    return sorted(pieces, key=lambda piece: (-piece[0], -(piece[2] - piece[1])))


def test_the_hot_region_ranks_first_and_holds_the_written_bytes(layout: Layout) -> None:
    kernel = Kernel()
    if not usable(kernel):
        return
    with hot_set_workload(layout) as hot:
        tracker = SoftDirtyTracker(kernel, [hot.pid], {})
        samples: list[list[Region]] = []
        with tracking(tracker):
            time.sleep(1.5)  # the first interval: the hammering thread runs at full speed by now
            for _ in range(INTERVALS):
                samples.append(list(tracker.sample()))
                time.sleep(INTERVAL)
        assert all(r.pid == hot.pid and r.written and r.heat == 1.0 and r.heat_unit == HEAT_UNIT
                   and r.accessing_nodes is None for sample in samples for r in sample)
        for sample in samples:
            assert [r.start for r in sample] == sorted(r.start for r in sample)
            assert all(a.end < b.start for a, b in itertools.pairwise(sample))  # touching runs merge

        # The hottest range (written in the most intervals, then the largest) lies in the hot region; a
        # mapping that touches it and is written too joins its runs, so a few pages may stick out.
        count, start, end = ranked(samples)[0]
        assert count == INTERVALS, (count, start, end, hot)
        overlap = max(0, min(end, hot.hot[1]) - max(start, hot.hot[0]))
        assert overlap >= 0.9 * (end - start) and overlap >= 1 << 20, (start, end, hot)
        later = [r for sample in samples[1:] for r in sample]
        in_hot = sum(inside(r, hot.hot) for r in later)
        total = sum(r.size for r in later)
        assert in_hot >= 0.9 * total, (in_hot, total)
        for sample in samples:  # the thread writes all of the hot region, pass after pass
            assert sum(inside(r, hot.hot) for r in sample) >= 0.5 * (hot.hot[1] - hot.hot[0])
            assert sum(inside(r, hot.cold) for r in sample) == 0  # written once, before the tracker started


def test_a_process_that_exits_between_intervals_ends_the_sample() -> None:
    kernel = Kernel()
    if not usable(kernel):
        return
    child = subprocess.Popen(["sleep", "600"])
    try:
        tracker = SoftDirtyTracker(kernel, [child.pid], {})
        with tracking(tracker):
            list(tracker.sample())
            os.kill(child.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _state(child.pid) != "Z" and time.monotonic() < deadline:
                time.sleep(0.01)
            with pytest.raises(NoSuchProcessError, match=f"pid {child.pid} has exited"):
                tracker.sample()  # a zombie: exited, not reaped yet
            child.wait()
            with pytest.raises(ProcessLookupError, match=f"pid {child.pid}"):
                tracker.sample()  # gone
    finally:
        child.kill()
        child.wait()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]


def test_another_users_process_is_refused_in_plain_words() -> None:
    kernel = Kernel()
    if not usable(kernel):
        return
    target = os.getpid()  # root's

    def as_nobody(channel: Channel) -> None:
        os.setgid(65534)
        os.setuid(65534)
        try:
            SoftDirtyTracker(Kernel(), [target], {}).start()
            channel.send("started")
        except NotPermittedError as error:
            channel.send(str(error))

    with forked(as_nobody) as child:
        said = child.receive()
    assert said == (f"cannot write /proc/{target}/clear_refs: pid {target} belongs to another user; "
                    "soft-dirty tracking runs as its user or as root")
