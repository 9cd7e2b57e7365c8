"""Planning and applying on a captured process: the snapshot a policy gets, and a plan carried out.

The process is a fixture tree (test_profile_helpers.make_process: 8 pages at START, pages 0-3
and 6 present) whose move_pages(2) answers come from tests/unit/fakes.FakeSyscalls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from numamove.cli import main
from numamove.errors import InvalidInputError, NoSuchProcessError, NotPermittedError
from numamove.kernel import Kernel
from numamove.kernel.syscalls import MPOL_MF_MOVE_ALL
from numamove.move.apply import apply_plan, check_processes
from numamove.planning.run import plan_from_report, record_report
from numamove.planning.snapshot import take_snapshot, with_cold_gaps
from numamove.policy.plan import Move, Plan, PlannedProcess
from numamove.policy.snapshot import Snapshot
from numamove.profile.memory import MemoryLog
from numamove.profile.recorder import build_header
from numamove.profile.report import Report, analyze

from .test_profile_helpers import PAGE, PID, START, FakeTracker, make_process, query_kernel


def test_cold_gaps_fill_what_no_region_covers_inside_the_mappings() -> None:
    reported = [(10, 20, "a"), (30, 40, "a")]
    mappings = [(0, 50, "a"), (60, 70, "b")]
    assert with_cold_gaps(reported, mappings) == [
        (0, 10, "a"), (10, 20, "a"), (20, 30, "a"), (30, 40, "a"), (40, 50, "a"), (60, 70, "b")]
    assert with_cold_gaps([], mappings) == mappings
    assert with_cold_gaps([(0, 50, "a")], [(0, 50, "a")]) == [(0, 50, "a")]


def with_smaps(root: Path) -> None:
    """The process's smaps, which a move's scan reads (huge pages, swap)."""
    end = START + 8 * PAGE
    (root / "proc" / str(PID) / "smaps").write_text(
        f"{START:x}-{end:x} rw-p 00000000 00:00 0 \nSize:                 32 kB\n"
        "KernelPageSize:        4 kB\n"
        "MMUPageSize:           4 kB\nRss:                  20 kB\nAnonymous:            20 kB\n"
        "AnonHugePages:         0 kB\nSwap:                  0 kB\nLocked:                0 kB\n")


def recorded(tmp_path: Path, start_ticks: int = 1000) -> tuple[Kernel, Report]:
    make_process(tmp_path, start_ticks=start_ticks)
    with_smaps(tmp_path)
    kernel = query_kernel(tmp_path)
    FakeTracker.script = []  # one region: the first 4 pages, heat 3, written
    tracker = FakeTracker(kernel, [PID], {})
    report, _ = record_report(kernel, [PID], [tracker], interval=0.01, duration=0.02)
    return kernel, report


def test_the_snapshot_holds_the_profiled_heat_the_cold_rest_and_the_placement_now(tmp_path: Path) -> None:
    kernel, report = recorded(tmp_path)
    snapshot = take_snapshot(kernel, report)
    assert [(p.pid, p.start, p.name) for p in snapshot.processes] == [(PID, 1000, "worker")]
    regions = [(r.start - START, r.end - START, r.heat, r.written, dict(r.pages)) for r in snapshot.regions]
    assert regions == [(0, 4 * PAGE, 3.0, True, {1: 4}), (4 * PAGE, 8 * PAGE, 0.0, None, {1: 1})]
    assert snapshot.trackers.names == ("fake",)
    assert {node.id for node in snapshot.nodes} == {0, 1, 2}
    assert [node.id for node in snapshot.nodes if node.memory_only] == [2]


def test_a_pid_reused_since_the_profile_or_gone_is_refused(tmp_path: Path) -> None:
    kernel, report = recorded(tmp_path)
    (tmp_path / "proc" / str(PID) / "stat").write_text((tmp_path / "proc" / str(PID) / "stat").read_text()
                                                       .replace(" 1000 ", " 2000 "))
    with pytest.raises(NoSuchProcessError, match="another process now"):
        take_snapshot(kernel, report)
    with pytest.raises(InvalidInputError, match="not in the profile"):
        take_snapshot(kernel, report, pids=[4242])


class EverythingTo:
    """A stand-in policy: every present page to ``node``."""

    name: ClassVar[str] = "everything"
    description: ClassVar[str] = "every page to one node"
    options: ClassVar[Mapping[str, str]] = {}

    def __init__(self, node: int) -> None:
        self.node = node

    def plan(self, snapshot: Snapshot) -> Plan:
        moves = tuple(Move(r.pid, r.start, r.end, source, self.node, pages, "balance", "test")
                      for r in snapshot.regions for source, pages in r.pages.items() if source != self.node)
        processes = tuple(PlannedProcess(p.pid, p.start, p.name) for p in snapshot.processes)
        return Plan(self.name, processes, moves, page_size=snapshot.page_size)


def test_a_plan_from_a_report_is_carried_out_move_by_move(tmp_path: Path) -> None:
    kernel, report = recorded(tmp_path)
    plan, _ = plan_from_report(kernel, EverythingTo(0), report)
    assert plan.created > 0 and [(m.start - START, m.pages) for m in plan.moves] == [(0, 4), (4 * PAGE, 1)]
    assert Plan.from_json(plan.to_json()) == plan
    result = apply_plan(kernel, plan)
    assert [(o.state, o.found, o.moved) for o in result.outcomes] == [("moved", 4, 4), ("moved", 1, 1)]
    assert result.status == 0 and result.pages_moved == 5
    again = apply_plan(kernel, plan)
    assert [(o.state, o.found, o.moved) for o in again.outcomes] == [("nothing to move", 0, 0)] * 2


def test_apply_scans_a_process_once_and_moves_each_range_from_its_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, _ = recorded(tmp_path)
    reads: list[str] = []
    read_text = kernel.read_text

    def counted(path: str) -> str:
        reads.append(path)
        return read_text(path)

    monkeypatch.setattr(kernel, "read_text", counted)
    moves = (Move(PID, START, START + 2 * PAGE, 1, 0, 2, "balance", "test"),
             Move(PID, START + 2 * PAGE, START + 4 * PAGE, 1, 2, 2, "balance", "test"),
             Move(PID, START + 2 * PAGE, START + 4 * PAGE, 0, 2, 0, "balance", "test"),  # shares a range
             Move(PID, START + 6 * PAGE, START + 8 * PAGE, 1, 0, 1, "balance", "test"))
    result = apply_plan(kernel, Plan("test", (PlannedProcess(PID, 1000, "worker"),), moves))
    assert sum(path.endswith("/smaps") for path in reads) == 1
    assert [(o.state, o.found, o.moved) for o in result.outcomes] == [
        ("moved", 2, 2), ("moved", 2, 2), ("nothing to move", 0, 0), ("moved", 1, 1)]
    sent = [(int(address - START) // PAGE, int(node)) for call in kernel.syscalls.calls  # type: ignore[attr-defined]
            if call.nodes is not None for address, node in zip(call.addresses, call.nodes, strict=True)]
    assert sent == [(0, 0), (1, 0), (2, 2), (3, 2), (6, 0)]


def plan_for(start_ticks: int, target: int) -> Plan:
    return Plan("test", (PlannedProcess(PID, start_ticks, "worker"),),
                (Move(PID, START, START + 4 * PAGE, 1, target, 4, "balance", "test"),))


def test_apply_refuses_a_plan_for_a_process_gone_or_reused(tmp_path: Path) -> None:
    make_process(tmp_path, start_ticks=1000)
    kernel = query_kernel(tmp_path)
    with pytest.raises(NoSuchProcessError, match="another process now"):
        check_processes(kernel, plan_for(999, 0))
    gone = Plan("test", (PlannedProcess(4242, 1, ""),), ())
    with pytest.raises(NoSuchProcessError, match="has exited"):
        apply_plan(kernel, gone)


def test_a_move_to_a_node_offline_or_outside_the_cpuset_is_skipped_and_said(tmp_path: Path) -> None:
    make_process(tmp_path, start_ticks=1000)
    kernel = query_kernel(tmp_path)
    result = apply_plan(kernel, plan_for(1000, 7))
    assert [(o.state, o.why) for o in result.outcomes] == [("skipped", "node 7 is not online (online: 0-2)")]
    assert result.status == 3 and kernel.syscalls.calls == []  # type: ignore[attr-defined]
    (tmp_path / "proc" / str(PID) / "status").write_text("Name:\tworker\nMems_allowed_list:\t1\n")
    result = apply_plan(kernel, plan_for(1000, 0))
    assert result.outcomes[0].state == "skipped" and "cpuset" in result.outcomes[0].why


@pytest.mark.parametrize(("content", "says"), [
    ("not json", "is not JSON"),
    ('{"format": "numamove-plan", "version": 99}', "newer than this numamove reads"),
    ('{"format": "other"}', "is not a numamove plan"),
    ('{"format": "numamove-plan", "version": 1, "policy": "x", "options": {}, "created": 0,'
     ' "page_size": 4096, "processes": [{"pid": 1, "start": 1, "name": ""}], "moves": [{"pid": 1}],'
     ' "notes": []}', "move 1"),
])
def test_apply_refuses_a_bad_plan_file_in_one_line(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    result = CliRunner().invoke(main, ["apply", str(path)])
    assert result.exit_code == 1 and says in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_apply_names_a_missing_file_or_a_directory(tmp_path: Path) -> None:
    for path, says in ((tmp_path / "none.json", "no such file"), (tmp_path, "is a directory")):
        result = CliRunner().invoke(main, ["apply", str(path)])
        assert result.exit_code == 1 and says in result.output


def test_the_memory_log_reads_back_as_the_report_of_a_file_would(tmp_path: Path) -> None:
    make_process(tmp_path)
    kernel = query_kernel(tmp_path)
    log = MemoryLog(build_header(kernel, [PID], [FakeTracker.info], spec="9", interval=1.0))
    log.end("duration", 0, 0.0)
    report = analyze(log.objects())
    assert report.trackers == ["fake"] and report.starts == {PID: 1000} and report.processes == []


def test_plan_names_the_policies_and_refuses_a_bad_output_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plan", "1", "--policy", "nope"])
    assert result.exit_code == 1
    assert "no policy is called 'nope'; the policies: balance, locality, log, tiering" in result.output
    missing = str(tmp_path / "no" / "p.json")
    result = CliRunner().invoke(main, ["plan", "1", "--policy", "locality", "-o", missing])
    assert result.exit_code == 1 and "does not exist" in result.output
    none = str(tmp_path / "none.jsonl")
    result = CliRunner().invoke(main, ["plan", "--policy", "locality", "--profile", none])
    assert result.exit_code == 1 and "no such file" in result.output


def test_apply_with_move_all_asks_for_mpol_mf_move_all_and_needs_cap_sys_nice(tmp_path: Path) -> None:
    kernel, report = recorded(tmp_path)
    plan, _ = plan_from_report(kernel, EverythingTo(0), report)
    with pytest.raises(NotPermittedError, match="MPOL_MF_MOVE_ALL needs CAP_SYS_NICE"):
        apply_plan(kernel, plan, move_all=True)
    assert all(call.nodes is None for call in kernel.syscalls.calls)  # type: ignore[attr-defined]
    (tmp_path / "proc" / "self").mkdir(exist_ok=True)
    (tmp_path / "proc" / "self" / "status").write_text("Name:\tnumamove\nCapEff:\t000001ffffffffff\n")
    result = apply_plan(kernel, plan, move_all=True)
    moves = [call for call in kernel.syscalls.calls if call.nodes is not None]  # type: ignore[attr-defined]
    assert result.pages_moved == 5 and moves and all(call.flags & MPOL_MF_MOVE_ALL for call in moves)
