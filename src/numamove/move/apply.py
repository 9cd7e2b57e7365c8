"""Carry out a plan: each move through the shared move pipeline, with the result per move.

``apply_plan`` first checks that every process of the plan is the one it was
made for (same pid, same start time): a plan for a process that has gone, or
for a pid another process took since, is refused whole. Then each move moves
the pages of its range that are on its source node to its target. A process is
scanned once, over the ranges of all its moves, when its first move runs (a
scan reads /proc/PID/smaps whole, which costs far more than a move of a few
pages): memory that moved since, or that was freed, is simply not found there
or is reported freed. A move whose node went
offline (or lost its memory, or left the process's cpuset) is skipped, saying
why. ``stop()`` ends the running move after its batch and leaves the rest "not
run"; a process that exits ends its own moves.

Kernel interface: /proc/PID/stat (start time), /proc/PID/status (Mems_allowed),
/sys/devices/system/node (online nodes and their memory), then move_pages(2)
through the pipeline.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from numamove.errors import NoSuchProcessError, NotPermittedError
from numamove.kernel import Kernel, explain
from numamove.move.pipeline import Outcome, move_found_units
from numamove.move.result import MoveResult, status_name
from numamove.policy.choosers import one_node
from numamove.policy.plan import Move, Plan
from numamove.policy.units import Units
from numamove.targets import process_identity
from numamove.topology import Topology, read_topology

__all__ = ["ApplyResult", "MoveOutcome", "apply_plan", "check_processes"]

MOVED, PARTLY, NOTHING_THERE, SKIPPED, FAILED, NOT_RUN = (
    "moved", "partly moved", "nothing to move", "skipped", "failed", "not run")


@dataclass
class MoveOutcome:
    """What became of one move of a plan."""

    move: Move
    state: str
    """moved (every page that could; pages other processes map stay without MPOL_MF_MOVE_ALL, said in
    ``why``), partly moved, nothing to move (its pages left the source since), skipped, failed, not run."""
    found: int = 0
    """Pages of the range on the source node when the move ran."""
    moved: int = 0
    why: str = ""
    result: MoveResult | None = None

    def to_dict(self) -> dict[str, Any]:
        failed = {} if self.result is None else {status_name(k): v for k, v in self.result.failed.items()}
        return {**self.move.to_dict(), "state": self.state, "found": self.found, "moved": self.moved,
                "failed": failed, "skipped_shared": 0 if self.result is None else self.result.skipped_shared,
                "why": self.why}


@dataclass
class ApplyResult:
    """A plan carried out: one outcome per move, in the plan's order."""

    policy: str
    outcomes: list[MoveOutcome] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)

    @property
    def pages_moved(self) -> int:
        return sum(item.moved for item in self.outcomes)

    @property
    def skipped(self) -> int:
        return sum(item.state == SKIPPED for item in self.outcomes)

    @property
    def status(self) -> int:
        """0 all done; 1 pages that could move did not; 3 moves skipped or shared pages left; 130
        interrupted."""
        status = self.outcome.status
        if status == 0 and self.skipped:
            return 3
        return status

    def to_dict(self, page_size: int) -> dict[str, Any]:
        return {"policy": self.policy, "moves": [item.to_dict() for item in self.outcomes],
                "pages_moved": self.pages_moved, "bytes_moved": self.pages_moved * page_size,
                "skipped": self.skipped, "problems": self.outcome.problems,
                "stopped": "interrupted" if self.outcome.interrupted else None}


def check_processes(kernel: Kernel, plan: Plan) -> None:
    """Refuse a plan whose process exited, or whose pid is another process now (a start time differs)."""
    for process in plan.processes:
        called = f" ({process.name})" if process.name else ""
        found = process_identity(kernel, process.pid)
        if found is None:
            raise NoSuchProcessError(errno.ESRCH, f"the plan is for process {process.pid}{called}, which "
                                                  "has exited", "")
        if found[1] != process.start:
            why = (f"the plan is for process {process.pid}{called}, started at tick {process.start}; pid "
                   f"{process.pid} is another process now (started at tick {found[1]})")
            raise NoSuchProcessError(errno.ESRCH, why, "")


def apply_plan(kernel: Kernel, plan: Plan, *, budget: float = 0.020, rate: float | None = None,
               stop: Callable[[], bool] | None = None, progress: Callable[[int, int], None] | None = None,
               topology: Topology | None = None, move_all: bool = False) -> ApplyResult:
    """Carry out ``plan``'s moves in order (see the module's docstring).

    ``budget`` (seconds of kernel work per move_pages call) and ``rate``
    (bytes per second) are the mover's. ``progress(done, total)`` is told the
    planned pages handled so far. ``move_all`` moves pages other processes map
    too (MPOL_MF_MOVE_ALL: shared memory such as a database's shared buffers);
    it needs CAP_SYS_NICE, and is refused before anything moves without it.
    """
    check_processes(kernel, plan)
    if move_all and not kernel.has_cap_sys_nice():
        raise NotPermittedError(errno.EPERM, explain.move_all_needs_cap_sys_nice(), "")
    topology = topology or read_topology(kernel)
    online = kernel.online_nodes()
    memory_nodes = {node.id for node in topology.nodes if node.has_memory}
    result = ApplyResult(plan.policy)
    total = sum(move.pages for move in plan.moves)
    done = 0
    gone: set[int] = set()
    pages_of = _Found(kernel, plan.moves)
    if progress is not None:
        progress(0, total)
    for move in plan.moves:
        if result.outcome.interrupted or (stop is not None and stop()):
            result.outcome.interrupted = True
            result.outcomes.append(MoveOutcome(move, NOT_RUN, why="interrupted"))
            continue
        why = _skip_reason(kernel, move, online, memory_nodes, gone)
        if why:
            result.outcomes.append(MoveOutcome(move, SKIPPED if move.pid not in gone else NOT_RUN, why=why))
        else:
            done_move = _carry_out(kernel, topology, move, pages_of, result.outcome, budget, rate, stop, gone,
                                   move_all)
            result.outcomes.append(done_move)
        done += move.pages
        if progress is not None:
            progress(min(done, total), total)
    return result


def _skip_reason(kernel: Kernel, move: Move, online: frozenset[int], memory_nodes: set[int],
                 gone: set[int]) -> str:
    if move.pid in gone:
        return f"process {move.pid} exited"
    offline = sorted({move.source, move.target} - online)
    if offline:
        return explain.node_not_online(offline, online)
    if move.target not in memory_nodes:
        return explain.node_without_memory(move.target)
    allowed = kernel.mems_allowed(move.pid)
    if allowed is not None and move.target not in allowed:
        return explain.outside_cpuset([move.target], move.pid, allowed)
    return ""


class _Found:
    """Each process's present pages over the ranges of its moves: one scan per process, when first asked."""

    def __init__(self, kernel: Kernel, moves: Sequence[Move]) -> None:
        self.kernel = kernel
        self.ranges: dict[int, list[tuple[int, int]]] = {}
        for move in moves:
            self.ranges.setdefault(move.pid, []).append((move.start, move.end))
        self.units: dict[int, Units] = {}

    def of(self, move: Move) -> Units:
        """The units of ``move``'s range on its source node (NoSuchProcessError: the process exited)."""
        import numpy as np

        from numamove.move.from_scan import units_from_scan
        from numamove.scan import scan_process

        units = self.units.get(move.pid)
        if units is None:
            scan = scan_process(move.pid, kernel=self.kernel, pages=True, policies=False,
                                ranges=_merged(self.ranges[move.pid]), present_only=True)
            units = self.units[move.pid] = units_from_scan(scan)
        inside = (units.addresses >= np.uint64(move.start)) & (units.addresses < np.uint64(move.end))
        return units.subset(inside & ((units.nodes == move.source) | (units.nodes < 0)))


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` sorted, overlapping or touching ones joined (moves from two nodes may share a range)."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


def _carry_out(kernel: Kernel, topology: Topology, move: Move, pages_of: _Found, outcome: Outcome,
               budget: float, rate: float | None, stop: Callable[[], bool] | None, gone: set[int],
               move_all: bool) -> MoveOutcome:
    try:
        moved = move_found_units(kernel, topology, move.pid, pages_of.of(move), one_node(move.target),
                                 move_all=move_all, budget=budget, rate=rate, stop=stop)
    except NoSuchProcessError as error:
        gone.add(move.pid)
        outcome.problems.append(f"process {move.pid} exited while the plan ran")
        return MoveOutcome(move, FAILED, why=str(error))
    found = sum(moved.statuses.values()) + moved.not_tried
    if moved.stopped and not moved.interrupted:
        gone.add(move.pid)
    # -ENOENT: the page was freed between the scan and the call: gone, not misplaced.
    gone_pages = moved.failed.get(-errno.ENOENT, 0)
    failed = sum(moved.failed.values()) - gone_pages + moved.not_tried
    outcome.interrupted |= moved.interrupted
    outcome.shared_left |= moved.skipped_shared > 0
    if moved.stopped and not moved.interrupted:
        outcome.problems.append(moved.stopped)
    elif failed - moved.not_tried:
        outcome.problems.append(f"{failed - moved.not_tried} pages of pid {move.pid} did not end where asked")
    if found == 0:
        state = NOTHING_THERE
    elif not failed and moved.skipped_shared and not moved.pages_moved:
        state = SKIPPED  # every page is mapped by other processes too: move_all moves them
    elif not failed:
        state = MOVED  # shared pages left without MPOL_MF_MOVE_ALL are not a failure: said in why
    elif moved.pages_moved:
        state = PARTLY
    else:
        state = FAILED
    reasons = [moved.stopped] if moved.stopped else []
    reasons += [f"{count} pages {status_name(status)}" for status, count in moved.failed.items()
                if status != -errno.ENOENT]
    if gone_pages:
        reasons.append(f"{gone_pages} pages were freed meanwhile")
    if moved.skipped_shared:
        reasons.append(f"{moved.skipped_shared} pages other processes map were left (MPOL_MF_MOVE_ALL "
                       "moves them)")
    why = ", ".join(reasons)
    return MoveOutcome(move, state, found, moved.pages_moved, why, moved)

