"""`numamove profile` on the hot-set workload: the log's placement matches the kernel's, trackers
combine, and Ctrl-C, SIGTERM and the target's exit each close the log with an end record.

The end-to-end tests run two tiny trackers defined here ("fixed": the workload's hot and cold
regions, from --tracker-option; "here": the nodes its threads run on, one region spanning the whole
process), so what they check is the recorder, not a tracker. The "softdirty" test ranks the hot
region first, with at least 90% of the hot bytes it reports inside it; "damon,threads" does too,
covers the hot region in every interval and attributes the accesses to the hammering thread's node.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

import numamove
from numamove.cli import main
from numamove.kernel import Kernel
from numamove.profile.log import EndRecord, Header, IntervalRecord, ProfileLog, RegionRecord, read_log
from numamove.scan.regions import region_nodes
from numamove.trackers import Region, TrackerInfo, TrackerRegistry, base

from .conftest import PAGE_SIZE, HotSet, Layout, hot_set_workload, other_cpus

ROOT = Path(__file__).resolve().parents[2]


def _range(text: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    return int(start, 0), int(end, 0)


class Fixed:
    """Reports the ranges its options name: hot=START-END with heat 2, cold=START-END with heat 1."""

    info: ClassVar[TrackerInfo] = TrackerInfo("fixed", "what the test says", "everything", "nothing",
                                              {"hot": "START-END", "cold": "START-END"})

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        if set(options) != {"hot", "cold"}:
            unknown = sorted(set(options) - {"hot", "cold"})
            raise numamove.InvalidInputError(f"tracker fixed has no option {unknown[0]!r}" if unknown
                                             else "tracker fixed needs the options hot and cold")
        self.kernel, self.pid = kernel, pids[0]
        self.ranges = sorted((_range(options[name]), heat) for name, heat in (("hot", 2.0), ("cold", 1.0)))

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        return None

    def start(self) -> None:
        pass

    def sample(self) -> Iterator[Region]:
        if not self.kernel.exists(f"proc/{self.pid}"):
            raise numamove.NoSuchProcessError(3, f"no such process: pid {self.pid}", "")
        return iter([Region(self.pid, start, end, heat, "test heat", written=heat > 1)
                     for (start, end), heat in self.ranges])

    def stop(self) -> None:
        pass


class Here:
    """One region spanning the whole process, accessed from the nodes its threads last ran on."""

    info: ClassVar[TrackerInfo] = TrackerInfo("here", "thread nodes", "memory", "a stat read per thread")

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        self.kernel, self.pid = kernel, pids[0]

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        return None

    def start(self) -> None:
        pass

    def sample(self) -> Iterator[Region]:
        from numamove.scan import read_threads

        nodes = [t.node for t in read_threads(self.pid, self.kernel) if t.node is not None]
        shares = {node: nodes.count(node) / len(nodes) for node in set(nodes)} if nodes else None
        return iter([Region(self.pid, 0, 1 << 47, 0.0, "threads", accessing_nodes=shares)])

    def stop(self) -> None:
        pass


def registry() -> TrackerRegistry:
    found = TrackerRegistry()
    found.register("fixed", Fixed)
    found.register("here", Here)
    return found


def fixed_options(work: HotSet) -> list[str]:
    return ["--tracker-option", f"fixed.hot={work.hot[0]}-{work.hot[1]}",
            "--tracker-option", f"fixed.cold={work.cold[0]}-{work.cold[1]}"]


def queried_nodes(pid: int, start: int, end: int) -> dict[int, int]:
    """The kernel's answer: move_pages(2) on every page of [start, end) of ``pid``."""
    statuses = numamove.move_pages(pid, np.arange(start, end, PAGE_SIZE, dtype=np.uint64))
    nodes, counts = np.unique(statuses[statuses >= 0], return_counts=True)
    return {int(n): int(c) for n, c in zip(nodes, counts, strict=True)}


def test_the_log_holds_the_kernel_s_placement_and_the_combined_accessing_nodes(
        layout: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "REGISTRY", registry())
    out = tmp_path / "hot.jsonl"
    with hot_set_workload(layout) as work:
        result = CliRunner().invoke(main, ["profile", str(work.pid), "--tracker", "fixed,here", "--duration",
                                           "2s", "--interval", "500ms", "-o", str(out), "--json",
                                           *fixed_options(work)])
        assert result.exit_code == 0, result.output
        hot_now, cold_now = queried_nodes(work.pid, *work.hot), queried_nodes(work.pid, *work.cold)
        resident_now = numamove.scan_process(work.pid, detail=False).pages_by_node
        spans = sorted([work.hot, work.cold])
        starts, ends = [a for a, _ in spans], [b for _, b in spans]
        by_pfn = region_nodes(Kernel(), work.pid, starts, ends, frames="pagemap")
        by_query = region_nodes(Kernel(), work.pid, starts, ends, frames=None)
    assert by_pfn.tolist() == by_query.tolist()  # PFN -> node and move_pages agree, region by region
    assert [dict((n, c) for n, c in enumerate(row) if c) for row in by_pfn.tolist()] == [
        hot_now if span == work.hot else cold_now for span in spans]
    summary = json.loads(result.stdout)
    assert summary["intervals"] == 4 and summary["reason"] == "duration"
    log = read_log(out)
    assert not log.bad and log.ended
    header = log.records[0]
    assert isinstance(header, Header) and header.trackers == ["fixed", "here"]
    assert header.kernel == os.uname().release and header.page_size == PAGE_SIZE
    assert {n["id"] for n in header.topology["nodes"]} == set(layout.online)
    last = [r for r in log.records if isinstance(r, RegionRecord) and r.interval == 3]
    hot = next(r for r in last if (r.start, r.end) == work.hot)
    cold = next(r for r in last if (r.start, r.end) == work.cold)
    assert hot.nodes == hot_now and sum(hot.nodes.values()) == (work.hot[1] - work.hot[0]) // PAGE_SIZE
    assert cold.nodes == cold_now and hot.heat == 2.0 and hot.written is True
    # "here" counts threads alike: the hammering one on work.node, the others wherever they last ran.
    assert hot.accessing_nodes is not None and hot.accessing_nodes.get(work.node, 0) > 0
    assert sum(hot.accessing_nodes.values()) == pytest.approx(1.0)
    assert hot.accessing_nodes == cold.accessing_nodes
    resident = [r for r in log.records if isinstance(r, IntervalRecord)][-1].resident
    assert abs(sum(resident.values()) - sum(resident_now.values())) < 256  # the interpreter's own churn


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from numamove.trackers import base
from tests.live import test_profile
base.REGISTRY = test_profile.registry()
sys.argv = ["numamove", *{args!r}]
from numamove._entry import run
run()
"""


def start_profile(args: list[str]) -> subprocess.Popen[str]:
    """`numamove ARGS` in a new interpreter, with this file's trackers registered."""
    code = SCRIPT.format(root=str(ROOT), args=args)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)


def wait_for_intervals(out: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180  # a loaded TCG guest starts Python slowly
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.read_text().count('"type":"interval"') >= count:
            return
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
    _, stderr = process.communicate()
    raise AssertionError(f"no {count} intervals in {out} (exit {process.returncode}): {stderr[-3000:]}")


@pytest.mark.parametrize(("number", "status", "reason"), [(signal.SIGINT, 130, "interrupted"),
                                                         (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_close_the_log_with_an_end_record(layout: Layout, tmp_path: Path, number: int,
                                                              status: int, reason: str) -> None:
    out = tmp_path / "run.jsonl"
    with hot_set_workload(layout) as work:
        process = start_profile(["profile", str(work.pid), "--tracker", "fixed", "--interval", "200ms",
                                 "-o", str(out), *fixed_options(work)])
        wait_for_intervals(out, 2, process)
        process.send_signal(number)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert stderr.splitlines()[-1] == f"numamove: {reason}: {out} is closed with what was seen"
    log = read_log(out)
    assert log.ended and not log.bad
    end = log.records[-1]
    assert isinstance(end, EndRecord) and end.reason == reason and end.intervals >= 2


def test_the_target_exiting_ends_the_run_with_what_was_seen(layout: Layout, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    with hot_set_workload(layout) as work:
        process = start_profile(["profile", str(work.pid), "--tracker", "fixed", "--interval", "200ms",
                                 "--duration", "60s", "-o", str(out), *fixed_options(work)])
        wait_for_intervals(out, 2, process)
    _, stderr = process.communicate(timeout=60)  # the workload exited on leaving the block
    assert process.returncode == 1, stderr
    assert stderr.splitlines()[-1].startswith(f"numamove: error: pid {work.pid} exited; {out} holds the ")
    end = read_log(out).records[-1]
    assert isinstance(end, EndRecord) and end.reason == "target exited" and end.intervals >= 2


def test_bad_input_leaves_no_log_and_no_traceback(layout: Layout, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "REGISTRY", registry())
    with hot_set_workload(layout) as work:
        out = ["-o", str(tmp_path / "x")]
        cases = [(["--tracker", "fixed", "--tracker-option", "fixed.depth=1", *out], "no option 'depth'"),
                 (["--tracker", "fixed", "--interval", "1us", *out], "--interval must be from 10ms"),
                 (["--tracker", "nothing", *out], "no tracker is called 'nothing'"),
                 (["--tracker", "fixed", *fixed_options(work), "-o", "/proc/x.jsonl"],
                  "cannot write the profile log /proc/x.jsonl")]
        for args, said in cases:
            result = CliRunner().invoke(main, ["profile", str(work.pid), *args])
            assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
            assert said in result.stderr and isinstance(result.exception, SystemExit)
            assert not (tmp_path / "x").exists()


# --- numamove's own trackers ---------------------------------------------------------------------------


def hot_share(log: ProfileLog, hot: tuple[int, int]) -> tuple[float, RegionRecord]:
    """Of the hot bytes after the first interval, the share inside ``hot``; and the hottest region of
    the last interval. Hot: at least half the heat of that interval's hottest region (DAMON's coarse
    regions also give the interpreter's own pages some heat)."""
    regions = [r for r in log.records if isinstance(r, RegionRecord) and r.interval > 0 and r.heat > 0]
    assert regions, "no hot region after the first interval"
    peak = {r.interval: 0.0 for r in regions}
    for r in regions:
        peak[r.interval] = max(peak[r.interval], r.heat)
    hottest_bytes = [r for r in regions if r.heat >= 0.5 * peak[r.interval]]
    total = sum(r.end - r.start for r in hottest_bytes)
    inside = sum(max(0, min(r.end, hot[1]) - max(r.start, hot[0])) for r in hottest_bytes)
    last = max(r.interval for r in regions)
    final = [r for r in regions if r.interval == last]  # heats within a tenth of the ceiling tie
    hottest = max((r for r in final if r.heat >= 0.9 * peak[last]), key=lambda r: r.end - r.start)
    return inside / total, hottest


def profile_with(trackers: str, work: HotSet, out: Path, duration: str = "4s", *options: str) -> ProfileLog:
    elsewhere = other_cpus(work.node)  # not on the hammering thread's vCPU
    run = subprocess.run([sys.executable, "-m", "numamove", "profile", str(work.pid), "--tracker", trackers,
                          "--duration", duration, "--interval", "1s", "-o", str(out), "--json", *options],
                         preexec_fn=lambda: os.sched_setaffinity(0, elsewhere),
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["reason"] == "duration"
    log = read_log(out)
    assert log.ended and not log.bad
    return log


def overlaps(region: RegionRecord, span: tuple[int, int]) -> bool:
    return region.start < span[1] and span[0] < region.end


def test_softdirty_ranks_the_hot_region_first(layout: Layout, tmp_path: Path) -> None:
    with hot_set_workload(layout) as work:
        log = profile_with("softdirty", work, tmp_path / "sd.jsonl")
    share, hottest = hot_share(log, work.hot)
    assert share >= 0.9 and overlaps(hottest, work.hot)
    assert hottest.written is True
    assert not any(overlaps(r, work.cold) and r.heat > 0 for r in log.records
                   if isinstance(r, RegionRecord) and r.interval > 0)


def test_damon_with_threads_ranks_the_hot_region_first_and_names_the_threads_node(layout: Layout,
                                                                                 tmp_path: Path) -> None:
    with hot_set_workload(layout) as work:
        log = profile_with("damon,threads", work, tmp_path / "damon.jsonl", "4s", "--tracker-option",
                           "damon.sample=20ms", "--tracker-option", "damon.aggregation=200ms")
    share, hottest = hot_share(log, work.hot)
    assert share >= 0.9 and overlaps(hottest, work.hot), (share, hottest, work.hot)
    regions = [r for r in log.records if isinstance(r, RegionRecord)]
    intervals = {r.interval for r in regions}
    assert len(intervals) == 4
    for index in intervals:  # DAMON's regions cover the hot range in every interval
        assert sum(max(0, min(r.end, work.hot[1]) - max(r.start, work.hot[0]))
                   for r in regions if r.interval == index) == work.hot[1] - work.hot[0]
    assert all(r.accessing_nodes is not None and max(r.accessing_nodes, key=r.accessing_nodes.__getitem__)
               == work.node for r in regions)
    header = log.records[0]
    assert isinstance(header, Header) and header.trackers == ["damon", "threads"]
    kdamonds = Path("/sys/kernel/mm/damon/admin/kdamonds")
    states = [(d / "state").read_text().strip() for d in kdamonds.iterdir() if (d / "state").exists()]
    assert "on" not in states  # the run left no kdamond running
