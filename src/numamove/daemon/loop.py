"""The daemon's loop: for each selection, every interval, profile -> plan -> apply.

A cycle of one selection: find its processes now (new ones picked up, exited
ones dropped), profile them for ``profile`` seconds with its trackers (kept in
memory), take a snapshot, ask its policy for a plan (with the moves of earlier
cycles as history, for hysteresis), and carry the plan out at its ``rate``
(or only report it with ``dry_run``). Every step is the library's: the same
calls ``numamove plan`` and ``numamove apply`` make.

Events go to ``log`` as dicts, one per event (the command prints them as JSON
lines or text): start, config, selection, plan, moved, failed, cycle, error,
stop. ``stop()`` is asked between steps and inside them (a profile's interval,
a move's batch): a stop ends the running batch, the trackers clean up (a
kdamond stopped and removed) and no half plan is left. A process that exits
mid-cycle drops out of that cycle; a failed cycle is an "error" event, and the
next cycle runs as usual.

Kernel interface: the selection's /proc reads, the trackers', the snapshot's and
the mover's (move_pages(2)), all through a Kernel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from numamove.daemon.config import ConfigError, DaemonConfig, Selection
from numamove.daemon.selection import matching_pids
from numamove.errors import InvalidInputError, NoSuchProcessError, NumaMoveError
from numamove.kernel import Kernel
from numamove.move.apply import ApplyResult, apply_plan
from numamove.planning.run import plan_from_report, record_report
from numamove.policy import base as policy_base
from numamove.policy.base import Policy
from numamove.policy.plan import Plan
from numamove.policy.snapshot import PastMove, Snapshot
from numamove.targets import process_identity
from numamove.trackers import base as trackers_base

__all__ = ["Daemon", "Metrics", "SelectionState"]

HISTORY = 4096
"""Past moves a selection keeps for hysteresis (the newest)."""
NAP = 0.2


class Metrics(Protocol):
    """What the loop tells its metrics (numamove.daemon.metrics.DaemonMetrics)."""

    def observe_plan(self, selection: str, plan: Plan) -> None: ...
    def observe_apply(self, selection: str, result: ApplyResult, page_size: int) -> None: ...
    def observe_cycle(self, selection: str, seconds: float, tracker_cpu_seconds: float,
                      mover_cpu_seconds: float) -> None: ...
    def observe_snapshot(self, selection: str, snapshot: Snapshot, min_heat: float = 0.0) -> None: ...
    def set_processes(self, selection: str, count: int) -> None: ...
    def observe_error(self, selection: str, kind: str) -> None: ...
    def forget(self, selection: str) -> None: ...


@dataclass
class SelectionState:
    """One selection's running state: its trackers as chosen at start, its processes, its history."""

    selection: Selection
    policy: Policy
    trackers: tuple[str, ...]
    cycles: int = 0
    due: float = 0.0
    pids: list[int] = field(default_factory=list)
    history: list[PastMove] = field(default_factory=list)
    last_plan: Plan | None = None
    last_result: dict[str, Any] | None = None
    last_error: str | None = None
    last_cycle: float | None = None

    def to_dict(self) -> dict[str, Any]:
        plan = self.last_plan
        return {"name": self.selection.name, "policy": self.selection.policy, "trackers": list(self.trackers),
                "pids": self.pids, "cycles": self.cycles, "last_cycle": self.last_cycle,
                "last_plan": None if plan is None else {**plan.summary(), "notes": list(plan.notes),
                                                         "moves": [m.to_dict() for m in plan.moves[:100]]},
                "last_result": self.last_result, "last_error": self.last_error}


def _policy(selection: Selection) -> Policy:
    options = {**selection.policy_options, "budget": str(selection.budget)}
    return policy_base.REGISTRY.build(selection.policy, options)


def choose_trackers(kernel: Kernel, selection: Selection) -> tuple[tuple[str, ...], str | None]:
    """The selection's trackers if they all run here, else its fallback; the reason for a fallback.

    InvalidInputError when neither runs (a fallback of none refuses at once).
    """
    usable = trackers_base.REGISTRY.available(kernel)

    def why_not(names: Sequence[str]) -> str | None:
        for name in names:
            if not usable[name].usable:
                return f"tracker {name!r} is not available here: {usable[name].why}"
        return None

    why = why_not(selection.tracker)
    if why is None:
        return selection.tracker, None
    if not selection.fallback:
        raise InvalidInputError(f"selection {selection.name!r}: {why}; it has no fallback")
    second = why_not(selection.fallback)
    if second is not None:
        raise InvalidInputError(f"selection {selection.name!r}: {why}; its fallback too: {second}")
    return selection.fallback, why


class Daemon:
    """The loop over selections. A library object: the command, tests and other programs drive it."""

    def __init__(self, kernel: Kernel, config: DaemonConfig, *, dry_run: bool = False,
                 log: Callable[[dict[str, Any]], None] = lambda event: None, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.kernel, self.config, self.dry_run = kernel, config, dry_run
        self.log, self.metrics, self.clock, self.sleep = log, metrics, clock, sleep
        self.states: dict[str, SelectionState] = {}
        self._alive: Callable[[], object] = lambda: None
        self._reload_asked = False

    def _ping(self) -> None:
        self._alive()

    def _event(self, event: str, **fields: Any) -> None:
        self.log({"time": time.time(), "event": event, **fields})

    def start(self) -> None:
        """Choose each selection's trackers (falling back, or refusing, as configured)."""
        self.states = self._states(self.config, {})
        self._event("start", selections=[{"name": s.selection.name, "trackers": list(s.trackers),
                                          "policy": s.selection.policy} for s in self.states.values()],
                    dry_run=self.dry_run)

    def _states(self, config: DaemonConfig, old: dict[str, SelectionState]) -> dict[str, SelectionState]:
        states = {}
        for selection in config.selection:
            if selection.move_shared and not self.kernel.has_cap_sys_nice():
                raise InvalidInputError(f"selection {selection.name!r}: move_shared needs CAP_SYS_NICE "
                                        "(MPOL_MF_MOVE_ALL)")
            trackers, why = choose_trackers(self.kernel, selection)
            if why is not None:
                self._event("config", selection=selection.name,
                            message=f"{why}; using the fallback {','.join(trackers)}")
            state = SelectionState(selection, _policy(selection), trackers)
            before = old.get(selection.name)
            if before is not None:  # a reload keeps what the selection learnt
                state.history, state.pids, state.cycles = before.history, before.pids, before.cycles
                state.due = before.due if before.selection.interval == selection.interval else 0.0
            states[selection.name] = state
        return states

    def reload(self, config: DaemonConfig) -> None:
        """Run ``config`` from now on; on any error the running config stays (the error goes up)."""
        states = self._states(config, self.states)
        for name in set(self.states) - set(states):
            if self.metrics is not None:
                self.metrics.forget(name)
        self.config, self.states = config, states
        self._event("config", message="reloaded", selections=sorted(states))

    def status(self) -> dict[str, Any]:
        """What ``GET /status`` answers: each selection, its processes, its last plan and result."""
        from numamove import __version__

        return {"version": __version__, "pid": os.getpid(), "dry_run": self.dry_run,
                "selections": [state.to_dict() for state in self.states.values()]}

    def run(self, *, stop: Callable[[], bool], reload_requested: Callable[[], bool] = lambda: False,
            load: Callable[[], DaemonConfig] | None = None, once: bool = False,
            alive: Callable[[], object] = lambda: None, reloading: Callable[[], object] = lambda: None,
            reloaded: Callable[[], object] = lambda: None) -> None:
        """Cycle every selection when it is due until ``stop()``; ``once``: one cycle each, then return.

        ``reload_requested()`` (SIGHUP) makes it ``load()`` the config again; a bad
        one is an "error" event and the old config keeps running. ``alive()`` is
        called between steps and inside them (each profile interval, each batch
        moved): the systemd watchdog, which a long paced move must not starve.
        ``reloading()`` and ``reloaded()`` frame a reload (systemd's RELOADING=1, then READY=1).
        """
        self._alive = alive
        if not self.states:
            self.start()
        while not stop():
            asked, self._reload_asked = self._reload_asked or reload_requested(), False
            if asked and load is not None:
                reloading()
                try:
                    self.reload(load())
                except (ConfigError, InvalidInputError) as error:
                    self._event("error", kind="config", message=f"{error} (the running config stays)")
                reloaded()
            now = self.clock()
            for state in list(self.states.values()):
                if stop():
                    break
                if state.due <= now or once:
                    self.cycle(state, stop)
                    state.due = now + state.selection.interval
                    alive()
            if once:
                break
            self._nap(stop, reload_requested, alive)
        self._event("stop", reason="stopped" if stop() else "once")

    def _nap(self, stop: Callable[[], bool], reload_requested: Callable[[], bool],
             alive: Callable[[], object]) -> None:
        """Sleep until the next selection is due; a reload asked meanwhile ends the nap (within NAP)."""
        upcoming = min((state.due for state in self.states.values()), default=self.clock() + 1)
        while not stop() and self.clock() < upcoming:
            if reload_requested():
                self._reload_asked = True
                return
            alive()
            self.sleep(min(NAP, max(0.0, upcoming - self.clock())))

    def cycle(self, state: SelectionState, stop: Callable[[], bool]) -> None:
        """One cycle of one selection (see the module's docstring); errors become events."""
        name = state.selection.name
        started, cpu = self.clock(), time.process_time()
        tracker_cpu = mover_cpu = 0.0
        try:
            pids = self._match(state)
            for _ in range(2):  # a process that exits mid-cycle: once more without it
                if not pids:
                    break
                try:
                    tracker_cpu, mover_cpu = self._profile_plan_apply(state, pids, stop)
                    break
                except NoSuchProcessError:
                    still = self._match(state)
                    if still == pids:
                        raise
                    pids = still
            state.last_error = None
        except NumaMoveError as error:
            state.last_error = str(error)
            self._event("error", selection=name, kind=type(error).__name__, message=str(error))
            if self.metrics is not None:
                self.metrics.observe_error(name, type(error).__name__)
        finally:
            state.cycles += 1
            seconds = self.clock() - started
            state.last_cycle = time.time()
            self._event("cycle", selection=name, cycle=state.cycles, seconds=round(seconds, 3),
                        cpu_seconds=round(time.process_time() - cpu, 3), pids=state.pids)
            if self.metrics is not None:
                self.metrics.observe_cycle(name, seconds, tracker_cpu, mover_cpu)
                self.metrics.set_processes(name, len(state.pids))

    def _match(self, state: SelectionState) -> list[int]:
        """The selection's processes now; a change is a "selection" event."""
        pids = matching_pids(self.kernel, state.selection)
        if pids != state.pids:
            added, removed = sorted(set(pids) - set(state.pids)), sorted(set(state.pids) - set(pids))
            self._event("selection", selection=state.selection.name, pids=pids, added=added, removed=removed)
            state.pids = pids
        return pids

    def _profile_plan_apply(self, state: SelectionState, pids: list[int],
                            stop: Callable[[], bool]) -> tuple[float, float]:
        selection, name = state.selection, state.selection.name
        cpu = time.process_time()
        registry = trackers_base.REGISTRY
        trackers = registry.build(self.kernel, pids, state.trackers, selection.tracker_options)
        report, recording = record_report(self.kernel, pids, trackers, interval=selection.sample,
                                          duration=selection.profile, spec=name, stop=stop,
                                          on_interval=lambda progress: self._ping())
        tracker_cpu = time.process_time() - cpu
        if recording.reason == "interrupted" or stop():
            return tracker_cpu, 0.0
        alive = [p.pid for p in report.processes if _same(self.kernel, p.pid, report.starts.get(p.pid))]
        if not alive:
            return tracker_cpu, 0.0
        plan, snapshot = plan_from_report(self.kernel, state.policy, report, pids=alive,
                                          history=state.history, interval=state.cycles)
        state.last_plan = plan
        summary = plan.summary()
        self._event("plan", selection=name, moves=summary["moves"], bytes=summary["pages"] * plan.page_size,
                    notes=list(plan.notes))
        if self.metrics is not None:
            self.metrics.observe_plan(name, plan)
            min_heat = float(selection.policy_options.get("min_heat", "0") or 0)
            self.metrics.observe_snapshot(name, snapshot, min_heat)
        if self.dry_run or not plan.moves or stop():
            return tracker_cpu, 0.0
        cpu = time.process_time()
        plan = _without_exited(self.kernel, plan)
        rate = None if selection.rate is None else selection.rate * 1e6
        try:
            result = apply_plan(self.kernel, plan, rate=rate, stop=stop, move_all=selection.move_shared,
                                progress=lambda done, total: self._ping())
        except NoSuchProcessError as error:  # one exited between the plan and the move: next cycle
            self._event("error", selection=name, kind="exited", message=str(error))
            return tracker_cpu, time.process_time() - cpu
        mover_cpu = time.process_time() - cpu
        self._record(state, plan, result)
        return tracker_cpu, mover_cpu

    def _record(self, state: SelectionState, plan: Plan, result: ApplyResult) -> None:
        name = state.selection.name
        state.last_result = result.to_dict(plan.page_size)
        self._event("moved", selection=name, pages=result.pages_moved,
                    bytes=result.pages_moved * plan.page_size, interrupted=result.outcome.interrupted,
                    moves=sum(outcome.moved > 0 for outcome in result.outcomes))
        for outcome in result.outcomes:
            if outcome.state in ("failed", "skipped", "partly moved"):
                move = outcome.move
                self._event("failed", selection=name, pid=move.pid, start=move.start, end=move.end,
                            to=move.target, state=outcome.state, why=outcome.why)
            if outcome.moved:
                state.history.append(PastMove(outcome.move.pid, outcome.move.start, outcome.move.end,
                                              outcome.move.source, outcome.move.target, state.cycles))
        del state.history[:-HISTORY]
        if self.metrics is not None:
            self.metrics.observe_apply(name, result, plan.page_size)


def _same(kernel: Kernel, pid: int, start: int | None) -> bool:
    found = process_identity(kernel, pid)
    return found is not None and (start is None or found[1] == start)


def _without_exited(kernel: Kernel, plan: Plan) -> Plan:
    """The plan without the processes that exited (or whose pid was reused) since it was made."""
    kept = tuple(p for p in plan.processes if _same(kernel, p.pid, p.start))
    if len(kept) == len(plan.processes):
        return plan
    pids = {p.pid for p in kept}
    return replace(plan, processes=kept, moves=tuple(m for m in plan.moves if m.pid in pids))
