"""The "threads" tracker: each thread's CPU, its node, and its CPU time per interval, on a fixture tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from numamove.errors import NoSuchProcessError
from numamove.kernel import Kernel
from numamove.trackers import REGISTRY, get, tracking
from numamove.trackers.threads import ThreadNode, ThreadsTracker, mapped_span, read_thread_nodes

from .conftest import FIXTURES

MAPS = """\
55d0c0000000-55d0c0021000 r--p 00000000 08:02 1234      /usr/bin/prog
55d0c2000000-55d0c2100000 rw-p 00000000 00:00 0          [heap]
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
"""


def stat(tid: int, cpu: int, utime: int, stime: int, comm: str = "prog") -> str:
    """A /proc/PID/task/TID/stat line: ``processor`` is field 39, utime and stime fields 14 and 15."""
    fields = ["S", "1", str(tid), str(tid), "0", "-1", "4194560", "100", "0", "0", "0",
              str(utime), str(stime), "0", "0", "20", "0", "2", "0", "5614", "254197760", "1508",
              "18446744073709551615",
              "1", "1", "1", "0", "0", "0", "0", "16781312", "2", "0", "0", "0", "17", str(cpu), "0", "0"]
    return f"{tid} ({comm}) " + " ".join(fields) + "\n"


def make_tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "qemu-3node-hmat", root)
    (root / "proc/self/task").mkdir(parents=True)
    return root


def put_threads(root: Path, pid: int, threads: dict[int, tuple[int, int, int]]) -> None:
    """Threads of ``pid``: tid -> (cpu, utime, stime)."""
    task = root / f"proc/{pid}/task"
    if task.exists():
        shutil.rmtree(task)
    for tid, (cpu, utime, stime) in threads.items():
        (task / str(tid)).mkdir(parents=True)
        (task / str(tid) / "stat").write_text(stat(tid, cpu, utime, stime, comm="a (b) c"))
    (root / f"proc/{pid}/maps").write_text(MAPS)


def test_read_thread_nodes_gives_cpu_node_and_cpu_seconds(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    put_threads(root, 40, {40: (0, 150, 50), 41: (1, 30, 0), 42: (7, 0, 0)})  # CPU 7 is on no node
    assert read_thread_nodes(Kernel(root), 40) == [
        ThreadNode(40, 0, 0, 2.0), ThreadNode(41, 1, 1, 0.3), ThreadNode(42, 7, None, 0.0)]
    assert read_thread_nodes(Kernel(root), 99) == []


def test_mapped_span_leaves_out_the_vsyscall_page(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    put_threads(root, 40, {40: (0, 0, 0)})
    assert mapped_span(Kernel(root), 40) == (0x55D0C0000000, 0x7FFD00021000)
    (root / "proc/40/maps").write_text("")
    assert mapped_span(Kernel(root), 40) is None
    with pytest.raises(NoSuchProcessError, match="pid 41"):
        mapped_span(Kernel(root), 41)


def test_tracker_heat_is_cpu_seconds_per_second_and_nodes_are_cpu_time_shares(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_tree(tmp_path)
    clock = iter([100.0, 102.0, 104.0, 106.0])
    monkeypatch.setattr("numamove.trackers.threads.time.monotonic", lambda: next(clock))
    put_threads(root, 40, {40: (0, 100, 0), 41: (1, 100, 0)})
    tracker = get("threads")(Kernel(root), [40], {})
    assert isinstance(tracker, ThreadsTracker) and "threads" in REGISTRY.names()
    with tracking(tracker):
        # 2 s later: thread 41 (node 1) used 1.5 s, thread 40 (node 0) 0.5 s, thread 42 (new, node 1) 0.
        put_threads(root, 40, {40: (0, 140, 10), 41: (1, 220, 30), 42: (1, 0, 0)})
        (region,) = tracker.sample()
        assert (region.pid, region.start, region.end) == (40, 0x55D0C0000000, 0x7FFD00021000)
        assert region.heat == pytest.approx(2.0 / 2) and region.heat_unit.startswith("CPU seconds per second")
        assert region.accessing_nodes == pytest.approx({0: 0.25, 1: 0.75})
        # Nobody ran: the shares follow where the threads are (one on node 0, two on node 1).
        (region,) = tracker.sample()
        assert region.heat == 0 and region.accessing_nodes == pytest.approx({0: 1 / 3, 1: 2 / 3})
        shutil.rmtree(root / "proc/40")
        assert list(tracker.sample()) == []


def test_tracker_is_available_where_proc_shows_threads(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    assert ThreadsTracker.unavailable(Kernel(root)) is None
    shutil.rmtree(root / "proc/self")
    assert "is missing" in (ThreadsTracker.unavailable(Kernel(root)) or "")


def test_tracker_of_a_gone_process_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(NoSuchProcessError), tracking(ThreadsTracker(Kernel(make_tree(tmp_path)), [77], {})):
        pass
