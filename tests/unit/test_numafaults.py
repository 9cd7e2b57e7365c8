"""The sched and vmstat parsers and the "numafaults" tracker, on text as a 6.12 kernel prints it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.kernel import Kernel
from numamove.procfs.sched import NodeFaults, parse_sched
from numamove.procfs.stat import parse_task_stat
from numamove.procfs.vmstat import numa_counters, parse_vmstat
from numamove.trackers import get, tracking
from numamove.trackers.numafaults import NumaFaultsTracker, faults_since, read_numa_faults, read_vmstat_numa

from .conftest import FIXTURES

# The sched file of a thread of the test VM's guest (Debian 6.12, numa_balancing=enable), as read.
THREAD_SCHED = """\
python (186, #threads: 3)
-------------------------------------------------------------------
se.exec_start                                :         82229.963719
se.vruntime                                  :         62749.160149
se.sum_exec_runtime                          :         25712.642081
se.nr_migrations                             :                    1
nr_switches                                  :                  315
nr_voluntary_switches                        :                  193
nr_involuntary_switches                      :                  122
se.load.weight                               :              1048576
se.avg.util_est                              :                 1008
policy                                       :                    0
prio                                         :                  120
se.slice                                     :              1400000
clock-delta                                  :                 1295
mm->numa_scan_seq                            :                    3
numa_pages_migrated                          :                 1104
numa_preferred_nid                           :                    1
total_numa_faults                            :                 1161
current_node=1, numa_group_id=0
numa_faults node=0 task_private=0 task_shared=0 group_private=0 group_shared=0
numa_faults node=1 task_private=1161 task_shared=0 group_private=0 group_shared=0
numa_faults node=2 task_private=0 task_shared=0 group_private=0 group_shared=0
"""

VMSTAT = """\
nr_free_pages 180134
numa_hit 42388
numa_miss 0
numa_foreign 0
numa_interleave 880
numa_local 39159
numa_other 3229
pgpromote_success 0
pgpromote_candidate 0
pgdemote_kswapd 0
pgdemote_direct 0
pgdemote_khugepaged 0
numa_pte_updates 24848
numa_huge_pte_updates 5
numa_hint_faults 17981
numa_hint_faults_local 9497
numa_pages_migrated 1820
pgfault 12345
"""

MAPS = """\
00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/python3
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
"""


def sched(tid: int, node: int, faults: dict[int, tuple[int, int]], group: int = 0,
          comm: str = "python") -> str:
    """A thread's sched file: its current node, and (private, shared) faults per memory node."""
    lines = [f"{comm} ({tid}, #threads: 2)", "-" * 67,
             f"{'se.sum_exec_runtime':<45}:{'12.5':>21}", f"{'mm->numa_scan_seq':<45}:{3:>21}",
             f"{'numa_pages_migrated':<45}:{0:>21}", f"{'numa_preferred_nid':<45}:{-1:>21}",
             f"{'total_numa_faults':<45}:{sum(map(sum, faults.values())):>21}",
             f"current_node={node}, numa_group_id={group}"]
    for memory in range(3):
        private, shared = faults.get(memory, (0, 0))
        lines.append(f"numa_faults node={memory} task_private={private} task_shared={shared} "
                     f"group_private=0 group_shared=0")
    return "\n".join(lines) + "\n"


def make_tree(tmp_path: Path, balancing: str = "1") -> Path:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "qemu-3node-hmat", root)
    (root / "proc/sys/kernel/numa_balancing").write_text(balancing + "\n")
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/sched").write_text(THREAD_SCHED)
    (root / "proc/vmstat").write_text(VMSTAT)
    return root


def put_threads(root: Path, pid: int, threads: dict[int, str]) -> None:
    task = root / f"proc/{pid}/task"
    if task.exists():
        shutil.rmtree(task)
    for tid, text in threads.items():
        (task / str(tid)).mkdir(parents=True)
        (task / str(tid) / "sched").write_text(text)
    (root / f"proc/{pid}/maps").write_text(MAPS)


# --- parsers ------------------------------------------------------------------------------------------


def test_sched_numa_part_is_read_by_memory_node() -> None:
    parsed = parse_sched(THREAD_SCHED)
    assert (parsed.comm, parsed.tid, parsed.threads) == ("python", 186, 3)
    assert parsed.exec_runtime == pytest.approx(25712.642081)
    numa = parsed.numa
    assert numa is not None
    assert (numa.current_node, numa.preferred_node, numa.group_id) == (1, 1, 0)
    assert (numa.pages_migrated, numa.total_faults, numa.scan_seq) == (1104, 1161, 3)
    assert numa.faults == {0: NodeFaults(0, 0, 0, 0), 1: NodeFaults(1161, 0, 0, 0), 2: NodeFaults(0, 0, 0, 0)}
    assert numa.faults[1].task == 1161


def test_sched_comm_may_hold_spaces_and_parentheses() -> None:
    parsed = parse_sched(sched(7, 0, {}, comm="my (odd) name"))
    assert (parsed.comm, parsed.tid) == ("my (odd) name", 7)


def test_sched_without_numa_balancing_has_no_numa_part() -> None:
    text = THREAD_SCHED.split("mm->numa_scan_seq")[0]
    assert parse_sched(text).numa is None


@pytest.mark.parametrize(("text", "line", "why"), [
    ("bash 12\n", 1, "not 'comm"),
    (THREAD_SCHED.replace("task_shared=0 group_private=0 group_shared=0\nnuma_faults node=2",
                          "task_shared=x group_private=0 group_shared=0\nnuma_faults node=2"),
     22, "numa_faults"),
    (THREAD_SCHED.replace("current_node=1, numa_group_id=0", "current_node=one"), 20, "current_node"),
])
def test_malformed_sched_lines_are_named_by_number(text: str, line: int, why: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"line {line} \(.*{why}"):
        parse_sched(text)


def test_vmstat_counters_and_the_numa_ones() -> None:
    counters = parse_vmstat(VMSTAT)
    assert counters["pgfault"] == 12345 and counters["numa_hint_faults"] == 17981
    numa = numa_counters(counters)
    assert "pgfault" not in numa and "nr_free_pages" not in numa
    assert numa["pgpromote_success"] == 0 and numa["pgdemote_khugepaged"] == 0
    assert numa["numa_hint_faults_local"] == 9497 and len(numa) == 16


def test_malformed_vmstat_line_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"/proc/vmstat line 2 .*'numa_hit -3'"):
        parse_vmstat("numa_miss 0\nnuma_hit -3\n")


def test_task_times_are_fields_14_and_15() -> None:
    text = ("186 (py thon) R 180 0 0 0 -1 4194368 11 0 0 0 21 1 0 0 20 0 3 0 5614 254197760 15086 "
            "18446744073709551615 1 1 1 0 0 0 0 16781312 2 0 0 0 -1 1 0 0 0 0 0\n")
    stat = parse_task_stat(text)
    assert (stat.utime, stat.stime, stat.start_time, stat.processor) == (21, 1, 5614, 1)
    with pytest.raises(InvalidInputError, match="expected at least 39"):
        parse_task_stat("186 (py) R 1 2 3\n")


# --- the library functions --------------------------------------------------------------------------


def test_read_numa_faults_sums_threads_and_gives_the_local_share(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    # The leader runs on node 0 and faults on node 0's memory; the worker runs on node 1 and faults on
    # node 0 three times as much as on node 1.
    put_threads(root, 50, {50: sched(50, 0, {0: (10, 0)}), 51: sched(51, 1, {0: (60, 0), 1: (15, 5)})})
    found = read_numa_faults(Kernel(root), 50)
    assert set(found.threads) == {50, 51}
    assert found.by_node == {0: 70, 1: 20, 2: 0}
    assert found.local_share == pytest.approx((10 + 20) / 90)


def test_read_numa_faults_of_a_gone_process(tmp_path: Path) -> None:
    with pytest.raises(NoSuchProcessError, match="pid 77"):
        read_numa_faults(Kernel(make_tree(tmp_path)), 77)


def test_read_vmstat_numa(tmp_path: Path) -> None:
    counters = read_vmstat_numa(Kernel(make_tree(tmp_path)))
    assert counters["numa_pages_migrated"] == 1820 and "pgfault" not in counters


def test_faults_since_undoes_the_kernels_halving() -> None:
    before = parse_sched(sched(5, 1, {0: (101, 7)})).numa
    now = parse_sched(sched(5, 1, {0: (51 + 40, 7)})).numa  # 101 decayed to 101 - 50 = 51, then +40
    assert before is not None and now is not None
    assert faults_since(before, now) == 40  # the unchanged shared count saw no placement: 0
    assert faults_since(None, now) == 91 + 7
    assert faults_since(now, now) == 0
    fewer = parse_sched(sched(5, 1, {0: (10, 7)})).numa
    assert fewer is not None and faults_since(now, fewer) == 0  # never negative


# --- the tracker ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("balancing", "why"), [
    ("0", r"automatic NUMA balancing is off \(/proc/sys/kernel/numa_balancing is 0\): "
          r"enable with sysctl kernel.numa_balancing=1"),
    (None, "CONFIG_NUMA_BALANCING"),
])
def test_unavailable_says_why(tmp_path: Path, balancing: str | None, why: str) -> None:
    root = make_tree(tmp_path, balancing or "1")
    if balancing is None:
        (root / "proc/sys/kernel/numa_balancing").unlink()
    message = NumaFaultsTracker.unavailable(Kernel(root))
    assert message is not None and re.search(why, message)


def test_unavailable_without_numa_lines_in_sched(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "proc/self/sched").write_text(THREAD_SCHED.split("mm->numa_scan_seq")[0])
    assert "CONFIG_NUMA_BALANCING" in (NumaFaultsTracker.unavailable(Kernel(root)) or "")
    (root / "proc/self/sched").write_text(THREAD_SCHED)
    assert NumaFaultsTracker.unavailable(Kernel(root)) is None
    (root / "proc/sys/kernel/numa_balancing").write_text("2\n")  # memory tiering mode counts too
    assert NumaFaultsTracker.unavailable(Kernel(root)) is None


def test_tracker_heat_is_the_intervals_faults_shared_by_the_faulting_threads_nodes(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    put_threads(root, 50, {50: sched(50, 0, {0: (100, 0)}), 51: sched(51, 1, {0: (20, 0)})})
    tracker = get("numafaults")(Kernel(root), [50], {})
    assert isinstance(tracker, NumaFaultsTracker)
    with tracking(tracker):
        # Interval 1: no placement ran, nothing changed: no faults, no accessing nodes.
        (region,) = tracker.sample()
        assert (region.start, region.end) == (0x400000, 0x7FFD00021000)  # [vsyscall] is not a VMA
        assert region.heat == 0 and region.accessing_nodes is None and region.written is None
        # Interval 2: the leader halved to 50 and took 10 more (60); the worker halved to 10 and
        # took 30 (40), and a new thread on node 1 took 10 on node 2.
        put_threads(root, 50, {50: sched(50, 0, {0: (60, 0)}), 51: sched(51, 1, {0: (40, 0)}),
                               52: sched(52, 1, {2: (0, 10)})})
        (region,) = tracker.sample()
        assert region.heat == 10 + 30 + 10 and region.heat_unit.startswith("NUMA hinting faults")
        assert region.accessing_nodes == pytest.approx({0: 10 / 50, 1: 40 / 50})
        # The process exits: no region, no error.
        shutil.rmtree(root / "proc/50")
        assert list(tracker.sample()) == []


def test_tracker_refuses_options_and_bad_pids(tmp_path: Path) -> None:
    kernel = Kernel(make_tree(tmp_path))
    with pytest.raises(InvalidInputError, match="unknown tracker option: interval"):
        NumaFaultsTracker(kernel, [1], {"interval": "1s"})
    with pytest.raises(InvalidInputError, match="positive integers"):
        NumaFaultsTracker(kernel, [0], {})
    with pytest.raises(NoSuchProcessError), tracking(NumaFaultsTracker(kernel, [99], {})):
        pass
