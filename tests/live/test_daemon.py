"""`numamove daemon` in the guest: cycles that move real pages, and the faults of issue 12.

Each test writes a config, starts the daemon as a separate process (its events are JSON lines on
stdout, since stdout is a pipe) and reads its events. The workload is placement_child.py: named
buffers on chosen nodes, the hot ones hammered from one node's CPUs, every byte checked at the end.
After each test no kdamond may be left (the DAMON tests' rule) and the data must hold.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .conftest import PAGE_SIZE, Layout, other_cpus
from .test_plan_apply import MIB, Workload, share_on, workload

ROOT = Path(__file__).resolve().parents[2]
KDAMONDS = Path("/sys/kernel/mm/damon/admin/kdamonds")
Event = dict[str, Any]


def toml_value(value: Any) -> str:
    """A TOML value: JSON's strings, numbers and arrays are TOML's; a table is written inline."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(value)


def write_config(path: Path, selections: list[dict[str, Any]], port: int = 0, log: str = "json") -> Path:
    lines = [f'[daemon]\nlog = "{log}"\n', f"[metrics]\nport = {port}\n"]
    for selection in selections:
        lines.append("[[selection]]\n" + "".join(f"{key} = {toml_value(value)}\n"
                                                 for key, value in selection.items()))
    path.write_text("\n".join(lines))
    return path


def selection(work: Workload | None = None, **fields: Any) -> dict[str, Any]:
    found = {"name": "work", "tracker": "softdirty,threads", "fallback": "", "policy": "locality",
             "interval": "3s", "profile": "2s", "sample": "1s", **fields}
    if work is not None and "pids" not in fields and "cmdline" not in fields:
        found["pids"] = [work.pid]
    return found


class Daemon:
    """A running `numamove daemon`, its events read as they come."""

    def __init__(self, config: Path, *args: str, cpus: set[int] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "numamove", "daemon", "--config", str(config), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        self.events: list[Event] = []

    def until(self, wanted: Callable[[Event], bool], timeout: float = 120.0) -> Event:
        """Read events until one is ``wanted``; fail when the daemon exits first or time runs out."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if not ready:
                continue
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"the daemon exited ({self.process.wait()}): {self.stderr()}")
            event: Event = json.loads(line)
            self.events.append(event)
            if wanted(event):
                return event
        raise AssertionError(f"no such event in {timeout} s; events: {self.events[-10:]}")

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read() if self.process.poll() is not None else ""

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 120.0) -> int:
        """Signal the daemon, wait for it, and read the events it printed on its way out."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            status = self.process.wait(timeout=timeout)
        finally:
            self.kill()
        assert self.process.stdout is not None
        self.events += [json.loads(line) for line in self.process.stdout.read().splitlines()]
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def daemon(config: Path, *args: str, cpus: set[int] | None = None) -> Iterator[Daemon]:
    running = Daemon(config, *args, cpus=cpus)
    try:
        yield running
    finally:
        running.kill()


def shared_only(event: Event) -> bool:
    """A "failed" event of a move skipped because other processes map all its pages."""
    return event.get("state") == "skipped" and "other processes map" in str(event.get("why"))


def no_kdamond_left() -> None:
    assert int((KDAMONDS / "nr_kdamonds").read_text()) == 0, "a kdamond was left behind"


def event(name: str, **fields: Any) -> Callable[[Event], bool]:
    return lambda e: e["event"] == name and all(e.get(k) == v for k, v in fields.items())


LOCALITY = [{"name": "shared_hot", "mib": 16, "shared": True, "hot": True, "node": 0},
            {"name": "private_hot", "mib": 16, "shared": False, "hot": True, "node": 0},
            {"name": "cold", "mib": 16, "shared": False, "hot": False, "node": 0}]


def test_one_cycle_moves_hot_memory_to_the_threads_node_and_the_data_holds(layout: Layout,
                                                                          tmp_path: Path) -> None:
    first, second = layout.cpu_nodes
    buffers = [{**b, "node": first} for b in LOCALITY]
    # Two processes map the shared buffer (a database's shared buffers): move_shared moves it.
    with workload(layout, buffers, hammer_node=second, fork=True) as work:
        config = write_config(tmp_path / "numamove.toml", [selection(work, move_shared=True)])
        run = subprocess.run([sys.executable, "-m", "numamove", "daemon", "--config", str(config), "--once"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300,
                             preexec_fn=lambda: os.sched_setaffinity(0, other_cpus(second)))
        placed = {name: work.nodes(name) for name in ("shared_hot", "private_hot", "cold")}
        checked = work.check()
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events][:3] == ["start", "selection", "plan"], events
    moved = next(e for e in events if e["event"] == "moved")
    # The private buffer reached node 1 by itself: after the fork, the hammer's first writes copy
    # its pages on the hammer's node. The shared one only moves with MPOL_MF_MOVE_ALL.
    assert moved["pages"] >= 0.95 * 16 * MIB // PAGE_SIZE and events[-1]["event"] == "stop"
    for name in ("shared_hot", "private_hot"):
        assert share_on(placed[name], {second}) >= 0.95, (name, placed[name])
    assert placed["cold"] == {first: 16 * MIB // PAGE_SIZE}
    assert checked == {"ok": True, "bad": []}


def test_a_new_matching_process_is_picked_up_and_an_exited_one_dropped(layout: Layout,
                                                                       tmp_path: Path) -> None:
    first, second = layout.cpu_nodes
    small = [{"name": "hot", "mib": 4, "shared": False, "hot": True, "node": first}]
    config = write_config(tmp_path / "numamove.toml", [selection(cmdline="placement_child[.]py",
                                                                 interval="2s", profile="1s", sample="0.5s")])
    with workload(layout, small, hammer_node=second) as one, daemon(config, "--dry-run",
                                                                     cpus=other_cpus(second)) as running:
        running.until(lambda e: e["event"] == "selection" and one.pid in e["pids"])
        with workload(layout, small, hammer_node=second) as two:
            found = running.until(lambda e: e["event"] == "selection" and two.pid in e["added"])
            assert set(found["pids"]) == {one.pid, two.pid}
        gone = running.until(lambda e: e["event"] == "selection" and two.pid in e["removed"])
        assert gone["pids"] == [one.pid]
        assert running.stop() == 0
    errors = [e for e in running.events if e["event"] == "error"]
    assert not errors, errors


def test_sighup_with_a_broken_config_keeps_the_running_one(layout: Layout, tmp_path: Path) -> None:
    first, second = layout.cpu_nodes
    small = [{"name": "hot", "mib": 4, "shared": False, "hot": True, "node": first}]
    with workload(layout, small, hammer_node=second) as work:
        config = write_config(tmp_path / "numamove.toml", [selection(work, interval="2s", profile="1s",
                                                                     sample="0.5s")])
        with daemon(config, "--dry-run", cpus=other_cpus(second)) as running:
            running.until(event("cycle"))
            config.write_text(config.read_text().replace('policy = "locality"', 'policy = "nope"'))
            running.process.send_signal(signal.SIGHUP)
            error = running.until(event("error", kind="config"))
            assert "no policy is called 'nope'" in error["message"]
            assert "running config stays" in error["message"]
            later = running.until(event("cycle"))
            assert later["pids"] == [work.pid]
            assert running.stop() == 0


def test_sigterm_during_a_move_ends_the_batch_cleanly_and_the_data_holds(layout: Layout,
                                                                         tmp_path: Path) -> None:
    first, second = layout.cpu_nodes
    buffers = [{**b, "node": first} for b in LOCALITY]
    with workload(layout, buffers, hammer_node=second) as work:
        # DAMON's kdamond runs while the daemon profiles; 1 MB/s makes the move last half a minute.
        config = write_config(tmp_path / "numamove.toml", [selection(work, tracker="damon,threads",
                                                                     rate=1)])
        with daemon(config, cpus=other_cpus(second)) as running:
            running.until(event("plan"))
            # A first call of one 2 MiB huge page waits 2.1 s for its share of the rate, and
            # the calls after it (up to four of them) wait until 10 s: stop in between.
            time.sleep(6)
            started = time.monotonic()
            assert running.stop() == 0
            took = time.monotonic() - started
        checked = work.check()
    assert took < 30, f"SIGTERM took {took:.1f} s to stop the daemon"
    assert running.events[-1]["event"] == "stop", running.events[-3:]
    moved = [e for e in running.events if e["event"] == "moved"]
    assert moved and moved[0]["interrupted"] and 0 < moved[0]["pages"] < 32 * MIB // PAGE_SIZE, moved
    no_kdamond_left()
    assert checked == {"ok": True, "bad": []}


def test_an_unavailable_tracker_falls_back_or_refuses_at_start(layout: Layout, tmp_path: Path) -> None:
    first, second = layout.cpu_nodes
    small = [{"name": "hot", "mib": 4, "shared": False, "hot": True, "node": first}]
    (KDAMONDS / "nr_kdamonds").write_text("1")  # another tool's kdamond: DAMON is busy for numamove
    try:
        with workload(layout, small, hammer_node=second) as work:
            refusing = write_config(tmp_path / "refuse.toml", [selection(work, tracker="damon,threads")])
            run = subprocess.run([sys.executable, "-m", "numamove", "daemon", "--config", str(refusing),
                                  "--once"], capture_output=True, text=True, cwd=ROOT, timeout=120)
            assert run.returncode == 1 and "DAMON is busy" in run.stderr and "no fallback" in run.stderr
            assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
            falling = write_config(tmp_path / "fall.toml", [selection(work, tracker="damon,threads",
                                                                      fallback="softdirty,threads")])
            run = subprocess.run([sys.executable, "-m", "numamove", "daemon", "--config", str(falling),
                                  "--once", "--dry-run"], capture_output=True, text=True, cwd=ROOT,
                                 timeout=120)
        assert run.returncode == 0, run.stderr
        events = [json.loads(line) for line in run.stdout.splitlines()]
        assert any(e["event"] == "config" and "fallback softdirty,threads" in e["message"] for e in events)
        assert any(e["event"] == "plan" for e in events)
    finally:
        (KDAMONDS / "nr_kdamonds").write_text("0")


def test_a_taken_metrics_port_is_one_line_and_exit_1(layout: Layout, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "numamove.toml", [selection(pids=[1])], port=port)
        run = subprocess.run([sys.executable, "-m", "numamove", "daemon", "--config", str(config)],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 1 and f"port {port} on 127.0.0.1 is taken" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_status_and_metrics_answer_while_it_runs(layout: Layout, tmp_path: Path) -> None:
    first, second = layout.cpu_nodes
    small = [{"name": "hot", "mib": 4, "shared": False, "hot": True, "node": first}]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with workload(layout, small, hammer_node=second) as work:
        config = write_config(tmp_path / "numamove.toml", [selection(work, interval="2s", profile="1s",
                                                                     sample="0.5s")], port=port)
        with daemon(config, cpus=other_cpus(second)) as running:
            running.until(event("cycle"))
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30) as answer:
                status = json.load(answer)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
                metrics = answer.read().decode()
            assert running.stop() == 0
    shown = status["selections"][0]
    assert shown["name"] == "work" and shown["pids"] == [work.pid] and shown["cycles"] >= 1
    assert 'numamove_cycles_total{selection="work"}' in metrics
    assert 'numamove_plan_moves{selection="work"}' in metrics


def test_a_full_memory_only_node_shrinks_the_plan_and_nothing_fails(layout: Layout,
                                                                   tmp_path: Path) -> None:
    first, second = layout.cpu_nodes
    slow = layout.memory_only
    buffers = [{"name": "cold_fast", "mib": 32, "shared": False, "hot": False, "node": second},
               {"name": "hot", "mib": 4, "shared": False, "hot": True, "node": second}]
    import numamove

    free = numamove.read_topology().node(slow).mem_free
    # A balloon leaves 8 MiB of node 2 above the 5% headroom: 32 MiB of cold memory cannot all go there.
    total = numamove.read_topology().node(slow).mem_total
    balloon_mib = max(0, (free - int(0.05 * total) - 8 * MIB) // MIB)
    balloon = [{"name": "balloon", "mib": balloon_mib, "shared": False, "hot": False, "node": slow,
                "fill": "ones"}]
    with workload(layout, balloon, hammer_node=first), workload(layout, buffers, hammer_node=second) as work:
        config = write_config(tmp_path / "numamove.toml", [selection(
            work, policy="tiering", policy_options={"demote": "cold"})])
        run = subprocess.run([sys.executable, "-m", "numamove", "daemon", "--config", str(config), "--once"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300,
                             preexec_fn=lambda: os.sched_setaffinity(0, other_cpus(second)))
        placed = work.nodes("cold_fast")
        checked = work.check()
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    plan = next(e for e in events if e["event"] == "plan")
    assert any(note.startswith("room") for note in plan["notes"]), plan
    # Pages other processes map (a shared library's) stay without move_shared: skipped, not failed.
    bad = [(e.get("state"), e.get("why"), e.get("message")) for e in events
           if e["event"] == "error" or (e["event"] == "failed" and not shared_only(e))]
    assert not bad, bad
    moved = next(e for e in events if e["event"] == "moved")
    assert 0 < moved["bytes"] <= 12 * MIB, moved  # what fitted in node 2's 8 MiB, not the 32 MiB cold
    assert placed.get(slow, 0) * PAGE_SIZE <= 12 * MIB, placed
    assert checked == {"ok": True, "bad": []}
