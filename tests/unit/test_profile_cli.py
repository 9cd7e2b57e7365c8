"""``numamove profile`` on a captured process with fake trackers: the log, the summary, every bad input
as one line and a known exit status, Ctrl-C and SIGTERM, and --log with a stand-in access-log reader."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner, Result

from numamove.cli import main
from numamove.cli.profile import parse_size
from numamove.errors import InvalidInputError, NumaMoveError
from numamove.profile.log import EndRecord, Header, IntervalRecord, RegionRecord, read_log
from numamove.topology.frames import FrameNodes
from numamove.trackers import Region, TrackerRegistry, base

from .test_profile_helpers import PAGE, PID, START, FakeTracker, Unavailable, make_process


class Exiting(FakeTracker):
    """Its target exits after the second sample."""

    def sample(self) -> Iterator[Region]:
        if self.samples == 2:
            shutil.rmtree(self.kernel.path(f"proc/{self.pids[0]}"))
        return super().sample()


class Signalled(FakeTracker):
    """Sends ``number`` to this process at the second sample, as Ctrl-C or `kill` would."""

    number: ClassVar[int] = signal.SIGTERM

    def sample(self) -> Iterator[Region]:
        if self.samples == 1:
            os.kill(os.getpid(), self.number)
        return super().sample()


class Busy(FakeTracker):
    """Fails to start, half-way, as DAMON does when another tool holds it."""

    def start(self) -> None:
        super().start()
        raise NumaMoveError("DAMON is busy: kdamond 0 is running and is not ours")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pid 9 on the guest's sysfs, a registry of fake trackers, every frame on node 1 (no syscalls)."""
    make_process(tmp_path)
    registry = TrackerRegistry()
    for name, factory in (("fake", FakeTracker), ("gone", Unavailable), ("exiting", Exiting),
                          ("signalled", Signalled), ("busy", Busy)):
        registry.register(name, factory)
    monkeypatch.setattr(base, "REGISTRY", registry)
    frames = FrameNodes(np.array([0, 1], dtype=np.int64), np.array([-1, 1], dtype=np.int32))
    monkeypatch.setattr("numamove.profile.recorder.placement_frames", lambda kernel, method: frames)
    FakeTracker.script, FakeTracker.calls = [], []
    return tmp_path


def profile(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--root", str(root), "profile", *args])


def test_a_run_writes_the_log_and_a_json_summary(root: Path) -> None:
    out = root / "out.jsonl"
    result = profile(root, str(PID), "--tracker", "fake", "--duration", "50ms", "--interval", "10ms",
                     "-o", str(out), "--json", "--tracker-option", "fake.level=3")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["file"] == str(out) and summary["trackers"] == ["fake"] and summary["reason"] == "duration"
    # 5 on an idle machine; fewer when a sample takes longer than an interval (it skips missed ticks).
    assert 1 <= summary["intervals"] <= 5 and summary["regions"] == summary["intervals"]
    assert summary["pids"] == [PID]
    log = read_log(out)
    assert isinstance(log.records[0], Header) and log.records[0].target["spec"] == str(PID)
    assert log.records[-1] == EndRecord(summary["intervals"], "duration", pytest.approx(0.05, abs=0.05))  # type: ignore
    regions = [r for r in log.records if isinstance(r, RegionRecord)]
    assert {(r.start, r.end, r.nodes[1]) for r in regions} == {(START, START + 4 * PAGE, 4)}
    assert FakeTracker.calls[0] == "start" and FakeTracker.calls[-1] == "stop"


def test_piped_it_prints_a_plain_summary_line(root: Path) -> None:
    result = profile(root, str(PID), "--tracker", "fake", "--duration", "20ms", "--interval", "10ms",
                     "-o", str(root / "o.jsonl"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{root / 'o.jsonl'}: 2 intervals, 2 region records, ")
    assert result.stdout.rstrip().endswith("ended: duration")


@pytest.mark.parametrize(("args", "message"), [
    (["--tracker", "nope"], "no tracker is called 'nope'; the trackers: busy, exiting, fake, gone, "
                            "signalled"),
    (["--tracker", "gone"], "tracker 'gone' is not available here: DAMON is absent: "
                            "/sys/kernel/mm/damon/admin does not exist"),
    (["--tracker", "fake", "--tracker-option", "fake.depth=2"], "tracker fake has no option 'depth'"),
    (["--tracker", "fake", "--tracker-option", "gone.x=1"], "is for tracker 'gone', which --tracker"),
    (["--tracker", "fake", "--tracker-option", "depth=2"], "--tracker-option is NAME.KEY=VALUE"),
    (["--tracker", "fake,fake"], "--tracker names each tracker once"),
    (["--tracker", "fake", "--interval", "1ms"], "--interval must be from 10ms to 1h, not '1ms'"),
    (["--tracker", "fake", "--interval", "2h"], "--interval must be from 10ms to 1h"),
    (["--tracker", "fake", "--duration", "-1"], "--duration must be a duration like 5s"),
    (["--tracker", "fake", "--duration", "nan"], "--duration must be a duration like 5s"),
    (["--tracker", "fake", "--duration", "100ms", "--interval", "1s"], "is shorter than --interval"),
    (["--tracker", "fake", "--max-size", "1"], "--max-size must be from 4K to 1T"),
    (["--tracker", "fake", "--max-size", "lots"], "--max-size must be a size like 256M"),
    (["--tracker", "fake", "--log", "x.txt"], "--log converts an access log"),
])
def test_bad_input_is_one_line_and_exit_1_and_writes_nothing(root: Path, args: list[str],
                                                             message: str) -> None:
    out = root / "out.jsonl"
    duration = [] if "--duration" in args else ["--duration", "2s"]
    result = profile(root, str(PID), *args, *duration, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert result.stderr.startswith("numamove: error: ") and not out.exists()
    assert "start" not in FakeTracker.calls


def test_an_unwritable_output_is_one_line_and_nothing_starts(root: Path) -> None:
    result = profile(root, str(PID), "--tracker", "fake", "-o", str(root / "no" / "dir.jsonl"))
    assert result.exit_code == 1
    assert result.stderr == (f"numamove: error: cannot write the profile log {root / 'no' / 'dir.jsonl'}: "
                             "No such file or directory\n")
    assert FakeTracker.calls == []


def test_a_missing_target_or_tracker_is_a_usage_error(root: Path) -> None:
    assert profile(root, "--tracker", "fake", "-o", "x").exit_code == 2
    assert profile(root, str(PID), "-o", "x").exit_code == 2
    gone = profile(root, "77", "--tracker", "fake", "-o", str(root / "x.jsonl"))
    assert gone.exit_code == 1 and gone.stderr.count("\n") == 1 and "77" in gone.stderr


def test_a_target_that_exits_closes_the_log_with_what_was_seen_and_exits_1(root: Path) -> None:
    out = root / "out.jsonl"
    result = profile(root, str(PID), "--tracker", "exiting", "--duration", "1s", "--interval", "10ms",
                     "-o", str(out))
    assert result.exit_code == 1
    said = f"numamove: error: pid {PID} exited; {out} holds the 2 intervals seen"
    assert result.stderr.splitlines()[-1] == said
    assert read_log(out).records[-1] == EndRecord(2, "target exited", pytest.approx(0.03, abs=0.1))  # type: ignore
    assert FakeTracker.calls[-1] == "stop"


@pytest.mark.parametrize(("number", "status", "reason"), [(signal.SIGTERM, 143, "terminated"),
                                                         (signal.SIGINT, 130, "interrupted")])
def test_sigterm_and_ctrl_c_close_the_log_with_an_end_record(root: Path, number: int, status: int,
                                                              reason: str) -> None:
    Signalled.number = number
    out = root / "out.jsonl"
    before = signal.getsignal(number)
    result = profile(root, str(PID), "--tracker", "signalled", "--interval", "10ms", "-o", str(out), "--json")
    assert result.exit_code == status, result.output
    assert json.loads(result.stdout)["reason"] == reason
    assert result.stderr.splitlines()[-1] == f"numamove: {reason}: {out} is closed with what was seen"
    end = read_log(out).records[-1]
    assert isinstance(end, EndRecord) and end.reason == reason and end.intervals == 3  # + the part interval
    assert FakeTracker.calls[-1] == "stop" and signal.getsignal(number) is before


def test_the_size_cap_rotates_the_log(root: Path) -> None:
    FakeTracker.script = [[Region(PID, START + i * PAGE, START + (i + 1) * PAGE, float(i % 2), "w")
                           for i in range(8)]]
    out = root / "out.jsonl"
    result = profile(root, str(PID), "--tracker", "fake", "--duration", "300ms", "--interval", "10ms",
                     "-o", str(out), "--max-size", "4K", "--keep", "1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["parts"] > 2 and summary["regions"] == 8 * summary["intervals"]
    log = read_log(out)
    assert log.parts == [f"{out}.1", str(out)] and log.ended and not log.bad


def test_sizes_read_as_powers_of_1024() -> None:
    assert [parse_size(text) for text in ("4096", "64K", "256M", "1G", "2MiB", "1t")] == [
        4096, 65536, 256 << 20, 1 << 30, 2 << 20, 1 << 40]
    with pytest.raises(InvalidInputError):
        parse_size("2T")


# --- --log: an access log (JSON Lines, numamove.trackers.accesslog) replayed as a profile ---


def access_line(when: float, pid: int, address: int, cpu: int) -> str:
    return json.dumps({"time": when, "pid": pid, "address": hex(address), "cpu": cpu}) + "\n"


def test_an_access_log_becomes_a_profile_with_the_placement_of_a_running_target(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    access = root / "accesses.jsonl"
    access.write_text(access_line(0.1, PID, START, 1) + access_line(0.2, PID, START, 0) + "{broken line\n"
                      + access_line(1.5, PID, START + PAGE, 1) + access_line(1.6, PID, START + 9 * PAGE, 1))
    out = root / "out.jsonl"
    result = profile(root, str(PID), "--log", str(access), "--interval", "1s", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == (f"numamove: warning: 1 lines of {access} skipped (line 3: not JSON "
                             "(Expecting property name enclosed in double quotes))\n")
    assert json.loads(result.stdout)["intervals"] == 2
    records = read_log(out).records
    regions = [(r.interval, r.start, r.heat, r.accessing_nodes, r.nodes) for r in records
               if isinstance(r, RegionRecord)]
    assert regions == [(0, START, 2.0, {1: 0.5, 0: 0.5}, {1: 1}), (1, START + PAGE, 1.0, {1: 1.0}, {1: 1}),
                       (1, START + 9 * PAGE, 1.0, {1: 1.0}, {})]  # past the VMA: no placement
    assert [r.resident for r in records if isinstance(r, IntervalRecord)] == [{1: 5}, {1: 5}]
    assert records[-1] == EndRecord(2, "duration", 2.0)


def test_an_access_log_without_a_target_has_no_placement_and_an_empty_one_is_refused(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    access = root / "accesses.jsonl"
    access.write_text(access_line(0.1, 4444, START, 1))
    result = profile(root, "--log", str(access), "-o", str(root / "a.jsonl"))
    assert result.exit_code == 0, result.output
    records = read_log(root / "a.jsonl").records
    assert [(r.pid, r.nodes) for r in records if isinstance(r, RegionRecord)] == [(4444, {})]
    assert isinstance(records[0], Header) and records[0].target["spec"] == str(access)
    access.write_text("nothing here\n")
    empty = profile(root, "--log", str(access), "-o", str(root / "b.jsonl"))
    assert empty.exit_code == 1 and "holds no access numamove could read" in empty.stderr
    missing = profile(root, "--log", str(root / "none.txt"), "-o", str(root / "c.jsonl"))
    assert missing.exit_code == 1 and "cannot read the access log" in missing.stderr


def test_a_tracker_that_cannot_start_is_one_line_stopped_and_leaves_no_log(root: Path) -> None:
    out = root / "out.jsonl"
    result = profile(root, str(PID), "--tracker", "busy", "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == "numamove: error: DAMON is busy: kdamond 0 is running and is not ours\n"
    assert FakeTracker.calls == ["start", "stop"] and not out.exists()
