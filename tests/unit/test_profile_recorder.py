"""The recorder loop on a captured process: intervals, placement, mappings, and every way a run ends."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from numamove.kernel import Kernel
from numamove.profile.log import (
    EndRecord,
    Header,
    IntervalRecord,
    ProfileWriter,
    Record,
    RegionRecord,
    VmasRecord,
    read_log,
)
from numamove.profile.recorder import Progress, Recording, build_header, record, replay, start_ticks
from numamove.trackers import Region, TrackerInfo

from .test_profile_helpers import PAGE, PID, START, FakeTracker, make_process, query_kernel


class Clock:
    """A clock that sleep() moves forward; ``at`` runs actions when time passes a mark."""

    def __init__(self) -> None:
        self.now = 100.0
        self.at: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now = round(self.now + seconds, 9)  # no float drift over many naps
        for mark, action in list(self.at):
            if self.now - 100.0 >= mark:
                self.at.remove((mark, action))
                action()


@pytest.fixture(autouse=True)
def fresh_tracker() -> None:
    FakeTracker.script = []
    FakeTracker.calls = []


def run(root: Path, kernel: Kernel | None = None, *, duration: float | None = 3.0, interval: float = 1.0,
        stop: Callable[[], object] | None = None, clock: Clock | None = None, max_size: int = 1 << 20,
        pids: tuple[int, ...] = (PID,)) -> tuple[Recording, list[Record], list[Progress]]:
    kernel = kernel or query_kernel(root)
    clock = clock or Clock()
    tracker = FakeTracker(kernel, list(pids), {})
    header = build_header(kernel, pids, [tracker.info], spec=str(pids[0]), interval=interval, started=5.0)
    writer = ProfileWriter(root / "out.jsonl", header, max_size=max_size)
    seen: list[Progress] = []
    result = record(kernel, pids, [tracker], interval=interval, duration=duration, writer=writer, stop=stop,
                    on_interval=seen.append, clock=clock, sleep=clock.sleep)
    return result, read_log(root / "out.jsonl").records, seen


def test_a_run_writes_a_header_then_each_interval_with_placement_then_an_end(tmp_path: Path) -> None:
    make_process(tmp_path)
    result, records, seen = run(tmp_path)
    header = records[0]
    assert isinstance(header, Header)
    assert header.kernel == "6.12.0-test" and header.trackers == ["fake"] and header.page_size == 4096
    assert header.target == {"spec": "9", "processes": [{"pid": 9, "start": 1000, "name": "worker"}]}
    assert [node["id"] for node in header.topology["nodes"]] == [0, 1, 2]
    assert header.topology["nodes"][2]["memory_only"] is True
    assert isinstance(records[1], VmasRecord) and records[1].vmas == [(START, START + 8 * PAGE, "[anon]")]
    intervals = [r for r in records if isinstance(r, IntervalRecord)]
    assert [(r.index, r.time, r.seconds, r.resident) for r in intervals] == [
        (0, 1.0, 1.0, {1: 5}), (1, 2.0, 1.0, {1: 5}), (2, 3.0, 1.0, {1: 5})]
    regions = [r for r in records if isinstance(r, RegionRecord)]
    assert [(r.interval, r.start, r.end, r.heat, r.written, r.nodes) for r in regions] == [
        (i, START, START + 4 * PAGE, 3.0, True, {1: 4}) for i in range(3)]
    assert records[-1] == EndRecord(3, "duration", 3.0)
    assert sum(isinstance(r, VmasRecord) for r in records) == 1  # mappings unchanged: written once
    assert FakeTracker.calls == ["start", "sample", "sample", "sample", "stop"]
    assert result.intervals == 3 and result.reason == "duration" and result.regions == 3
    assert [p.index for p in seen] == [0, 1, 2] and seen[-1].total_regions == 3


def test_adjacent_equal_regions_merge_and_each_gets_its_nodes(tmp_path: Path) -> None:
    make_process(tmp_path)
    FakeTracker.script = [[Region(PID, START + i * PAGE, START + (i + 1) * PAGE, 1.0 if i < 6 else 2.0,
                                  "writes", age=None if i < 6 else 3.0) for i in range(8)]]
    kernel = query_kernel(tmp_path, {0: 0, 1: 0, 2: 1, 3: 1, 6: 2})
    _, records, _ = run(tmp_path, kernel, duration=1.0)
    regions = [(r.start, r.end, r.heat, r.nodes, r.age) for r in records if isinstance(r, RegionRecord)]
    assert regions == [(START, START + 6 * PAGE, 1.0, {0: 2, 1: 2}, None),
                       (START + 6 * PAGE, START + 8 * PAGE, 2.0, {2: 1}, 3.0)]


def test_changed_mappings_are_written_again_before_the_interval(tmp_path: Path) -> None:
    make_process(tmp_path)
    clock = Clock()
    clock.at.append((1.5, lambda: make_process(tmp_path, extra_vma=True)))
    _, records, _ = run(tmp_path, clock=clock)
    kinds = [type(r).__name__ for r in records if not isinstance(r, RegionRecord)]
    assert kinds == ["Header", "VmasRecord", "IntervalRecord", "VmasRecord", "IntervalRecord",
                     "IntervalRecord", "EndRecord"]
    assert len(records[4].vmas) == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(("answer", "reason"), [(True, "interrupted"), ("terminated", "terminated")])
def test_stop_ends_the_run_after_sampling_the_interval_so_far(tmp_path: Path, answer: object,
                                                               reason: str) -> None:
    make_process(tmp_path)
    clock = Clock()
    _, records, _ = run(tmp_path, duration=None, stop=lambda: answer if clock.now >= 102.5 else None,
                        clock=clock)
    intervals = [r for r in records if isinstance(r, IntervalRecord)]
    assert [r.seconds for r in intervals] == pytest.approx([1.0, 1.0, 0.5])
    assert records[-1] == EndRecord(3, reason, pytest.approx(2.5))  # type: ignore[arg-type]
    assert FakeTracker.calls[-1] == "stop"


def test_the_target_exiting_ends_the_run_with_what_was_seen(tmp_path: Path) -> None:
    make_process(tmp_path)
    clock = Clock()
    clock.at.append((2.5, lambda: shutil.rmtree(tmp_path / "proc" / str(PID))))
    result, records, _ = run(tmp_path, duration=10.0, clock=clock)
    assert records[-1] == EndRecord(2, "target exited", 3.0)
    assert result.exited == (PID,)
    assert FakeTracker.calls[-1] == "stop"


def test_a_pid_taken_by_a_new_process_counts_as_exited(tmp_path: Path) -> None:
    make_process(tmp_path)
    clock = Clock()
    clock.at.append((1.5, lambda: make_process(tmp_path, start_ticks=2000)))
    _, records, _ = run(tmp_path, duration=10.0, clock=clock)
    assert records[-1] == EndRecord(1, "target exited", 2.0)


def test_of_several_processes_the_exited_are_dropped_and_the_others_go_on(tmp_path: Path) -> None:
    make_process(tmp_path)
    make_process(tmp_path, pid=10)
    clock = Clock()
    clock.at.append((1.5, lambda: shutil.rmtree(tmp_path / "proc" / "10")))
    result, records, _ = run(tmp_path, duration=3.0, clock=clock, pids=(PID, 10))
    intervals = [(r.index, r.pid) for r in records if isinstance(r, IntervalRecord)]
    assert intervals == [(0, 9), (0, 10), (1, 9), (2, 9)]
    assert records[-1] == EndRecord(3, "duration", 3.0) and result.exited == (10,)


def test_ctrl_c_inside_closes_the_log_with_an_end_record_and_stops_the_tracker(tmp_path: Path) -> None:
    make_process(tmp_path)
    clock = Clock()

    def interrupt() -> None:
        raise KeyboardInterrupt

    clock.at.append((1.5, interrupt))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, duration=10.0, clock=clock)
    log = read_log(tmp_path / "out.jsonl")
    assert log.records[-1] == EndRecord(1, "interrupted", pytest.approx(1.5, abs=0.11)) and log.ended  # type: ignore[arg-type]
    assert FakeTracker.calls[-1] == "stop"


def test_a_target_gone_before_the_start_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    from numamove.errors import NoSuchProcessError

    make_process(tmp_path)
    with pytest.raises(NoSuchProcessError, match="pid 77"):
        run(tmp_path, pids=(77,))
    assert FakeTracker.calls == []


def test_start_ticks_read_field_22_even_with_spaces_and_parentheses_in_the_name(tmp_path: Path) -> None:
    (tmp_path / "proc" / "5").mkdir(parents=True)
    fields = ["S", *["0"] * 49]
    fields[19] = "4242"
    (tmp_path / "proc" / "5" / "stat").write_text(f"5 (a) b (c) {' '.join(fields)}\n")
    kernel = Kernel(tmp_path)
    assert start_ticks(kernel, 5) == 4242 and start_ticks(kernel, 6) is None


def test_replay_writes_given_intervals_with_placement_for_running_processes_only(tmp_path: Path) -> None:
    make_process(tmp_path)
    kernel = query_kernel(tmp_path)
    intervals = [[Region(PID, START, START + 2 * PAGE, 2.0, "samples", accessing_nodes={1: 1.0}),
                  Region(4321, 0x1000, 0x2000, 1.0, "samples")], [],
                 [Region(PID, START, START + PAGE, 1.0, "s")]]
    header = build_header(kernel, [PID], [FakeTracker.info], spec="log", interval=0.5)
    result = replay(kernel, intervals, interval=0.5, writer=ProfileWriter(tmp_path / "r.jsonl", header))
    records = read_log(tmp_path / "r.jsonl").records
    regions = [(r.interval, r.pid, r.nodes, r.accessing_nodes) for r in records
               if isinstance(r, RegionRecord)]
    assert regions == [(0, 9, {1: 2}, {1: 1.0}), (0, 4321, {}, None), (2, 9, {1: 1}, None)]
    times = [(r.index, r.pid, r.time, r.resident) for r in records if isinstance(r, IntervalRecord)]
    assert times == [(0, 9, 0.0, {1: 5}), (0, 4321, 0.0, {}), (1, 9, 0.5, {1: 5}), (2, 9, 1.0, {1: 5})]
    assert records[-1] == EndRecord(3, "duration", 1.5) and result.intervals == 3


def test_the_header_names_the_first_trackers_heat_unit_or_what_it_sees(tmp_path: Path) -> None:
    make_process(tmp_path)
    kernel = query_kernel(tmp_path)
    named = TrackerInfo("named", "what it sees", "nothing", "free", heat_unit="accesses per second")
    assert build_header(kernel, [PID], [named], spec="x", interval=1.0).heat_unit == "accesses per second"
    unnamed = TrackerInfo("unnamed", "what it sees", "nothing", "free")
    assert build_header(kernel, [PID], [unnamed], spec="x", interval=1.0).heat_unit == "what it sees"


def test_every_tracker_names_the_unit_of_its_heat() -> None:
    from numamove.trackers import REGISTRY
    from numamove.trackers.accesslog import INFO

    assert all(REGISTRY.get(name).info.heat_unit for name in REGISTRY.names()) and INFO.heat_unit
