"""Region placement (scan/regions.py) on a captured process, and combined trackers (trackers/combine.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.kernel import Kernel
from numamove.scan.regions import region_nodes, resident_nodes
from numamove.topology.frames import FrameNodes
from numamove.trackers import Region, TrackerInfo, tracking
from numamove.trackers.combine import Combined, combine_info, fill_accessing_nodes

from .fakes import FakeSyscalls
from .test_profile_helpers import PAGE, PID, START, make_process, query_kernel


def test_region_nodes_counts_present_pages_per_node_per_region(tmp_path: Path) -> None:
    make_process(tmp_path)  # pages 0-3 and 6 of 8 present
    kernel = query_kernel(tmp_path, {0: 0, 1: 1, 2: 1, 3: 2, 6: 2})
    table = region_nodes(kernel, PID, [START, START + 2 * PAGE, START + 5 * PAGE],
                         [START + 2 * PAGE, START + 4 * PAGE, START + 64 * PAGE])
    assert table.shape == (3, 3)
    assert table.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_only_present_pages_are_queried_in_one_call_per_chunk(tmp_path: Path) -> None:
    make_process(tmp_path)
    kernel = query_kernel(tmp_path)
    assert isinstance(kernel.syscalls, FakeSyscalls)
    region_nodes(kernel, PID, [START], [START + 8 * PAGE])
    assert [call.addresses for call in kernel.syscalls.calls] == [
        [START + page * PAGE for page in (0, 1, 2, 3, 6)]]
    assert all(call.nodes is None for call in kernel.syscalls.calls)  # a query, never a move


def test_region_nodes_takes_frames_when_pfns_are_seen(tmp_path: Path) -> None:
    make_process(tmp_path)
    frames = FrameNodes(np.array([0, 1, 0x1002], dtype=np.int64), np.array([-1, 0, 2], dtype=np.int32))
    kernel = Kernel(tmp_path, syscalls=FakeSyscalls())
    table = region_nodes(kernel, PID, [START], [START + 8 * PAGE], frames=frames)
    assert table.tolist() == [[2, 0, 3]]  # frames 0x1000-0x1001 on node 0, the rest on node 2
    assert isinstance(kernel.syscalls, FakeSyscalls) and not kernel.syscalls.calls


def test_ranges_outside_every_vma_count_nothing_and_unmapped_gaps_are_skipped(tmp_path: Path) -> None:
    make_process(tmp_path, extra_vma=True)
    kernel = query_kernel(tmp_path)
    table = region_nodes(kernel, PID, [0x1000, START + 6 * PAGE], [0x2000, START + 100 * PAGE])
    assert table.tolist() == [[0, 0, 0], [0, 1, 0]]
    assert region_nodes(kernel, PID, [], []).shape == (0, 3)


@pytest.mark.parametrize(("starts", "ends"), [([2, 0], [3, 1]), ([0], [0]), ([0, 1], [2, 3]), ([0], [1, 2])])
def test_ranges_must_be_sorted_and_apart(tmp_path: Path, starts: list[int], ends: list[int]) -> None:
    make_process(tmp_path)
    with pytest.raises(InvalidInputError):
        region_nodes(query_kernel(tmp_path), PID, starts, ends)


def test_a_process_that_is_gone_is_said_so(tmp_path: Path) -> None:
    make_process(tmp_path)
    with pytest.raises(NoSuchProcessError, match="pid 77"):
        region_nodes(query_kernel(tmp_path), 77, [START], [START + PAGE])


def test_resident_nodes_are_what_where_counts(tmp_path: Path) -> None:
    make_process(tmp_path)
    memory = resident_nodes(query_kernel(tmp_path), PID)
    assert memory.pages_by_node == {1: 5} and [(v.start, v.end) for v in memory.vmas] == [
        (START, START + 8 * PAGE)]


# --- combined trackers ------------------------------------------------------------------------------


class Part:
    """A running tracker that yields fixed regions and logs its calls in ``log``."""

    def __init__(self, name: str, regions: list[Region], log: list[str], fail: str = "") -> None:
        self.info = TrackerInfo(name, f"{name} sees", f"{name} misses", f"{name} costs", {"k": "an option"})
        self.regions, self.log, self.fail = regions, log, fail

    def start(self) -> None:
        self.log.append(f"start {self.info.name}")
        if self.fail == "start":
            raise InvalidInputError(f"{self.info.name} cannot start")

    def sample(self) -> Iterator[Region]:
        return iter(self.regions)

    def stop(self) -> None:
        self.log.append(f"stop {self.info.name}")
        if self.fail == "stop":
            raise InvalidInputError(f"{self.info.name} cannot stop")


MIB = 1 << 20


def test_heat_comes_from_the_first_and_accessing_nodes_from_the_others_by_overlap() -> None:
    heat = [Region(1, 0, 4 * MIB, 5.0, "accesses", written=True),
            Region(1, 4 * MIB, 8 * MIB, 0.0, "accesses", age=12.5),
            Region(1, 8 * MIB, 9 * MIB, 1.0, "accesses", accessing_nodes={2: 1.0}),  # its own: kept
            Region(2, 0, MIB, 1.0, "accesses")]  # no source for pid 2: stays None
    # Two sources for pid 1: node 1 for its first 6 MiB, node 0 after.
    sources = [Region(1, 0, 6 * MIB, 0.0, "threads", accessing_nodes={1: 1.0}),
               Region(1, 6 * MIB, 10 * MIB, 0.0, "threads", accessing_nodes={0: 0.5, 1: 0.5})]
    log: list[str] = []
    combined = Combined([Part("damon", heat, log), Part("threads", sources, log)])
    with tracking(combined):
        found = list(combined.sample())
    assert [(r.heat, r.written, r.heat_unit, r.age) for r in found] == [
        (5.0, True, "accesses", None), (0.0, None, "accesses", 12.5), (1.0, None, "accesses", None),
        (1.0, None, "accesses", None)]
    assert found[0].accessing_nodes == {1: 1.0}
    assert found[1].accessing_nodes == pytest.approx({0: 0.25, 1: 0.75})  # 2 MiB of each source
    assert found[2].accessing_nodes == {2: 1.0}
    assert found[3].accessing_nodes is None
    assert log == ["start damon", "start threads", "stop threads", "stop damon"]


def test_per_page_regions_are_filled_from_one_region_spanning_the_process() -> None:
    pages = [Region(7, START + i * PAGE, START + (i + 1) * PAGE, float(i + 1), "samples")
             for i in range(5000)]
    spanning = [Region(7, START - PAGE, START + 6000 * PAGE, 0.0, "threads",
                       accessing_nodes={1: 0.9, 0: 0.1})]
    found = fill_accessing_nodes(pages, spanning)
    assert len(found) == 5000 and all(r.accessing_nodes == pytest.approx({1: 0.9, 0: 0.1}) for r in found)
    assert [r.heat for r in found[:3]] == [1.0, 2.0, 3.0]


def test_combined_info_names_every_part_and_prefixes_their_options() -> None:
    infos = [TrackerInfo("damon", "accesses", "writes", "a kdamond", {"aggregation": "100ms"}),
             TrackerInfo("threads", "thread nodes", "memory", "a stat read", {})]
    info = combine_info(infos)
    assert info.name == "damon+threads"
    assert "accesses (damon)" in info.sees and "thread nodes (threads)" in info.sees
    assert "damon: writes" in info.cannot_see and "threads: a stat read" in info.cost
    assert dict(info.options) == {"damon.aggregation": "100ms"}
    assert combine_info(infos[:1]) is infos[0]


def test_a_part_that_fails_to_start_stops_those_started() -> None:
    log: list[str] = []
    combined = Combined([Part("a", [], log), Part("b", [], log, fail="start"), Part("c", [], log)])
    with pytest.raises(InvalidInputError, match="b cannot start"), tracking(combined):
        pass
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_a_part_that_fails_to_stop_does_not_keep_the_others_running() -> None:
    log: list[str] = []
    combined = Combined([Part("a", [], log), Part("b", [], log, fail="stop")])
    combined.start()
    with pytest.raises(InvalidInputError, match="b cannot stop"):
        combined.stop()
    assert log == ["start a", "start b", "stop b", "stop a"]
    combined.stop()  # twice is harmless
    assert log[-1] == "stop a"


def test_combining_nothing_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        Combined([])
