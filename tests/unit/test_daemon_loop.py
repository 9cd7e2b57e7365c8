"""The daemon's loop on a captured process: a cycle's events, dry runs, reloads, fallbacks, stops.

The process is test_profile_helpers.make_process's (pid 9, 8 pages, 5 present on node 1) with
move_pages(2) answered by FakeSyscalls; the tracker is a fake and the policy a stand-in that sends
every page to node 0, each registered in a registry of the test's own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from numamove.daemon.config import DaemonConfig, parse_config
from numamove.daemon.loop import Daemon
from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.kernel import Kernel
from numamove.policy import base as policy_base
from numamove.trackers import TrackerRegistry, base

from .test_planning import EverythingTo, with_smaps
from .test_profile_helpers import PID, FakeTracker, Unavailable, make_process, query_kernel


class ToNodeZero(EverythingTo):
    name: ClassVar[str] = "to-zero"

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(0)


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kernel]:
    make_process(tmp_path)
    with_smaps(tmp_path)
    trackers = TrackerRegistry()
    trackers.register("fake", FakeTracker)
    trackers.register("gone", Unavailable)
    monkeypatch.setattr(base, "REGISTRY", trackers)
    policies = policy_base.PolicyRegistry()
    policies.register("to-zero", ToNodeZero)
    monkeypatch.setattr(policy_base, "REGISTRY", policies)
    FakeTracker.script, FakeTracker.calls = [], []
    yield query_kernel(tmp_path)


def config(**selection: str) -> DaemonConfig:
    fields = {"name": '"one"', "pids": f"[{PID}]", "tracker": '"fake"', "fallback": '""',
              "policy": '"to-zero"', "interval": '"1s"', "profile": '"0.02s"', "sample": '"0.01s"',
              **selection}
    return parse_config("[[selection]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()), "test.toml")


def run_once(kernel: Kernel, cfg: DaemonConfig, **options: Any) -> tuple[Daemon, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    daemon = Daemon(kernel, cfg, log=events.append, **options)
    daemon.run(stop=lambda: False, once=True)
    return daemon, events


def test_one_cycle_profiles_plans_and_moves_and_remembers_what_moved(kernel: Kernel) -> None:
    daemon, events = run_once(kernel, config())
    assert [e["event"] for e in events] == ["start", "selection", "plan", "moved", "cycle", "stop"]
    assert events[1]["pids"] == [PID] and events[2]["moves"] == 2 and events[3]["pages"] == 5
    assert FakeTracker.calls[0] == "start" and FakeTracker.calls[-1] == "stop"
    state = daemon.states["one"]
    assert [(m.source, m.target, m.interval) for m in state.history] == [(1, 0, 0), (1, 0, 0)]
    status = daemon.status()
    shown = status["selections"][0]
    assert shown["pids"] == [PID] and shown["last_result"]["pages_moved"] == 5
    daemon.run(stop=lambda: False, once=True)  # everything is on node 0 now: the next plan is empty
    assert daemon.states["one"].last_plan is not None and not daemon.states["one"].last_plan.moves


def test_a_dry_run_plans_and_moves_nothing(kernel: Kernel) -> None:
    _, events = run_once(kernel, config(), dry_run=True)
    assert [e["event"] for e in events] == ["start", "selection", "plan", "cycle", "stop"]
    assert all(call.nodes is None for call in kernel.syscalls.calls)  # type: ignore[attr-defined]


def test_a_selection_without_processes_cycles_quietly(kernel: Kernel) -> None:
    _, events = run_once(kernel, config(pids="[4242]"))
    assert [e["event"] for e in events] == ["start", "cycle", "stop"] and events[1]["pids"] == []


def test_an_unavailable_tracker_falls_back_or_refuses_at_start(kernel: Kernel) -> None:
    daemon, events = run_once(kernel, config(tracker='"gone"', fallback='"fake"'))
    assert daemon.states["one"].trackers == ("fake",)
    assert events[0]["event"] == "config" and "DAMON is absent" in events[0]["message"]
    with pytest.raises(InvalidInputError, match=r"'gone' is not available here.*no fallback"):
        run_once(kernel, config(tracker='"gone"'))


def test_a_reload_keeps_the_old_config_when_the_new_one_is_bad(kernel: Kernel) -> None:
    events: list[dict[str, Any]] = []
    daemon = Daemon(kernel, config(interval='"0.05s"'), log=events.append, dry_run=True)
    texts = iter(['[[selection]]\nname = "x"\n', None])

    def load() -> DaemonConfig:  # first a config that names no processes, then a good one
        text = next(texts)
        return config(name='"two"') if text is None else parse_config(text, "test.toml")

    requests = iter([False, True, False, True])

    def stop() -> bool:
        return sum(1 for e in events if e["event"] == "cycle") >= 4

    daemon.run(stop=stop, reload_requested=lambda: next(requests, False), load=load)
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1 and "test.toml: selection[0]" in errors[0]["message"]
    assert errors[0]["message"].endswith("(the running config stays)")
    assert list(daemon.states) == ["two"]
    assert [e for e in events if e["event"] == "config"][-1]["message"] == "reloaded"


def test_a_stop_ends_the_loop_and_the_trackers_stop(kernel: Kernel) -> None:
    events: list[dict[str, Any]] = []
    daemon = Daemon(kernel, config(), log=events.append, sleep=lambda seconds: None)
    asked = iter([False, False, False])
    daemon.run(stop=lambda: next(asked, True))
    assert events[-1] == {**events[-1], "event": "stop", "reason": "stopped"}
    assert FakeTracker.calls.count("start") == FakeTracker.calls.count("stop") >= 1


class ExitsAtStart(FakeTracker):
    """The process exits just as the tracker starts (its /proc directory goes)."""

    def start(self) -> None:
        shutil.rmtree(self.kernel.path(f"proc/{self.pids[0]}"))
        raise NoSuchProcessError(3, f"no such process: pid {self.pids[0]}", "")


def test_a_process_that_exits_mid_cycle_drops_out_without_an_error(kernel: Kernel) -> None:
    base.REGISTRY.register("exits", ExitsAtStart)
    _, events = run_once(kernel, config(tracker='"exits"'))
    assert [e["event"] for e in events] == ["start", "selection", "selection", "cycle", "stop"], events
    assert events[2]["removed"] == [PID] and events[2]["pids"] == []


def test_move_shared_without_cap_sys_nice_is_refused_at_start(kernel: Kernel) -> None:
    with pytest.raises(InvalidInputError, match="move_shared needs CAP_SYS_NICE"):
        Daemon(kernel, config(move_shared="true")).start()
