"""Check -> choose -> move, one process at a time: what ``numamove move`` and ``migrate`` do,
as library calls that the CLI, ``apply`` and the daemon share.

- ``check_move``: refuse, before anything moves, what the kernel would refuse or silently
  misplace (a node offline or without memory, outside the cpuset, another user's
  process, --all without CAP_SYS_NICE).
- ``move_process``: scan a process's present pages, choose their targets, move them
  (or preview the move); ``migrate_process``: migrate_pages(2) (or the chunked mover)
  between node sets, with the pages per node before and after.
- ``Outcome``: the results of a run folded into problems and one exit status.

Nothing here prints or exits: a warning goes to the ``warn`` callback, and stopping is
the caller's ``stop()``. Kernel interface: /proc/PID/status, the cpuset's Mems_allowed,
the online nodes and CAP_SYS_NICE through a Kernel; /proc/PID/maps and pagemap through
the scans; move_pages(2) and migrate_pages(2) through numamove.move.
May import: numpy, numamove.kernel, numamove.scan, numamove.model, numamove.topology,
numamove.policy, numamove.move, numamove.errors, numamove.nodemask.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from numamove.errors import NodeNotAllowedError, NodeOfflineError, NoSuchProcessError, NotPermittedError
from numamove.kernel import explain

if TYPE_CHECKING:
    from numamove.kernel import Kernel
    from numamove.model import Vma
    from numamove.move.result import MoveResult
    from numamove.policy.units import Chooser, Units
    from numamove.topology import Topology

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SHARED_LEFT", "MigrateResult", "Outcome",
           "check_move", "migrate_nodes", "migrate_process", "move_exit_status", "move_found_units",
           "move_process", "read_target"]

EXIT_OK = 0
EXIT_FAILED = 1  # pages that could move did not, or the process exited mid-way
EXIT_SHARED_LEFT = 3  # all that could move landed, but pages other processes map were left
EXIT_INTERRUPTED = 130  # 128 + SIGINT

Progress = Callable[[int, int], None]


def check_move(kernel: Kernel, topology: Topology, pid: int, nodes: Iterable[int], move_all: bool, *,
               outside_cpuset: str = "refuse", warn: Callable[[str], None] | None = None) -> None:
    """Refuse, before anything moves, what the kernel would refuse or silently misplace.

    ``outside_cpuset="warn"`` (migrate_pages(2) as root) tells ``warn`` about a node
    outside the process's cpuset instead: that call moves the pages there all the same.
    """
    memory_nodes = {node.id for node in topology.nodes if node.has_memory}
    online = kernel.online_nodes()
    for node in sorted(set(nodes)):
        if node not in online:
            raise NodeOfflineError(errno.ENODEV, explain.node_not_online([node], online), "")
        if node not in memory_nodes:
            raise NodeOfflineError(errno.ENODEV, explain.node_without_memory(node), "")
    privileged = kernel.has_cap_sys_nice()
    allowed = kernel.mems_allowed(pid)
    outside = sorted(set(nodes) - allowed) if allowed is not None else []
    if outside:
        where = explain.outside_cpuset(outside, pid, allowed or ())
        if outside_cpuset != "warn":
            raise NodeNotAllowedError(errno.EACCES, where, "")
        if not privileged:
            raise NodeNotAllowedError(errno.EACCES, f"{where}: moving pages there needs CAP_SYS_NICE", "")
        if warn is not None:
            warn(f"{where}; migrate_pages(2) moves the pages there all the same")
    if move_all and not privileged:
        raise NotPermittedError(errno.EPERM, explain.move_all_needs_cap_sys_nice("--all (MPOL_MF_MOVE_ALL)"),
                                "")
    try:
        owner = kernel.process_status(pid).get("Uid", "").split()
    except FileNotFoundError:  # exited since the target was resolved
        raise NoSuchProcessError(errno.ESRCH, f"{explain.no_such_process(pid)} (it exited)", "") from None
    if owner and int(owner[0]) != os.geteuid() and not privileged:
        raise NotPermittedError(errno.EPERM, explain.another_users_process(pid), "")


def read_target(text: str, kernel: Kernel, topology: Topology) -> dict[int, float] | None:
    """A move's target as ``numamove move --to`` takes it -> {node: weight}; None for "threads".

    The nodes it may name are the online ones; ":free" weighs by each node's free memory.
    """
    from numamove.policy.targets import parse_weights

    if text == "threads":
        return None
    free = {node.id: node.mem_free for node in topology.nodes}
    return parse_weights(text, kernel.online_nodes(), kernel.node_limit(), free)


def move_process(kernel: Kernel, topology: Topology, pid: int, chooser: Chooser | None, *,
                 fallback_targets: Sequence[int] = (), move_all: bool = False,
                 select: Callable[[Vma], bool] | None = None, ranges: Sequence[tuple[int, int]] = (),
                 sources: Iterable[int] | None = None,
                 dry_run: bool = False, budget: float = 0.020, rate: float | None = None,
                 progress: Progress | None = None, stop: Callable[[], bool] | None = None) -> MoveResult:
    """Scan the present pages of ``pid`` and move them to where ``chooser`` says (a dry run
    with ``dry_run``: no syscall that moves).

    ``chooser`` None sends the pages to the nodes where the process's threads run (they are
    checked with :func:`check_move` once known). ``select`` and ``ranges`` narrow the scan
    to VMAs and address ranges; ``sources`` to pages now on those nodes. A full target
    falls back to the other ``fallback_targets``, nearest first (when there are several).
    ``budget`` (s), ``rate`` (bytes/s), ``progress`` and ``stop`` are the mover's
    (numamove.move.engine.move_units).
    """
    import numpy as np

    from numamove.move.engine import preview
    from numamove.move.from_scan import units_from_scan
    from numamove.policy.choosers import thread_nodes
    from numamove.scan import scan_process

    scan = scan_process(pid, kernel=kernel, pages=True, policies=False, select=select, ranges=ranges,
                        present_only=True)
    if chooser is None:  # the process's pages go where its own threads run
        chooser = thread_nodes(scan)
        check_move(kernel, topology, pid, {t.node for t in scan.threads if t.node is not None}, move_all)
    units = units_from_scan(scan)
    if sources is not None:
        units = units.subset(np.isin(units.nodes, list(sources)) | (units.nodes < 0))
    if dry_run:
        return preview(units, chooser)
    return move_found_units(kernel, topology, pid, units, chooser, fallback_targets=fallback_targets,
                            move_all=move_all, budget=budget, rate=rate, progress=progress, stop=stop)


def move_found_units(kernel: Kernel, topology: Topology, pid: int, units: Units, chooser: Chooser, *,
                     fallback_targets: Sequence[int] = (), move_all: bool = False, budget: float = 0.020,
                     rate: float | None = None, progress: Progress | None = None,
                     stop: Callable[[], bool] | None = None) -> MoveResult:
    """Move ``units`` of ``pid``, found by a scan, where ``chooser`` says (move_pages(2)).

    :func:`move_process` after its scan; ``apply_plan`` scans a process once and moves
    each part of a plan through this. The other arguments are :func:`move_process`'s.
    """
    from numamove.kernel.syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
    from numamove.move.engine import move_units
    from numamove.policy.targets import nearest_fallback

    distances = {node.id: node.distances for node in topology.nodes}
    fallback = nearest_fallback(distances, fallback_targets) if len(set(fallback_targets)) > 1 else None
    return move_units(pid, units, chooser, flags=MPOL_MF_MOVE_ALL if move_all else MPOL_MF_MOVE,
                      budget=budget, rate=rate, fallback=fallback, progress=progress, stop=stop,
                      kernel=kernel)


def migrate_nodes(kernel: Kernel, from_text: str, to_text: str) -> tuple[frozenset[int], frozenset[int]]:
    """``numamove migrate``'s FROM and TO node sets; a FROM node offline is refused."""
    from numamove.move.pages import resolve_nodes

    old = resolve_nodes(from_text, kernel, "FROM")
    new = resolve_nodes(to_text, kernel, "TO")
    online = kernel.online_nodes()
    offline = sorted(old - online)
    if offline:
        raise NodeOfflineError(errno.ENODEV, f"FROM {explain.node_not_online(offline, online)}", "")
    return old, new


@dataclass
class MigrateResult:
    """What migrating one process did: its pages per node before and after, and why some stayed."""

    pid: int
    before: dict[int, int]
    after: dict[int, int]
    not_moved: int
    """Pages the kernel (or the mover's failures) reported as not moved."""
    stayed: int
    """Pages still on the nodes being emptied (FROM nodes not in TO) after the move."""
    skipped_shared: int
    """Of those, pages left because other processes map them (no CAP_SYS_NICE)."""
    leaving: list[int]
    """The nodes emptied: FROM nodes not in TO."""
    privileged: bool
    """Whether the caller had CAP_SYS_NICE (shared pages move too)."""
    move: MoveResult | None = None
    """The chunked mover's result; None for one migrate_pages(2) call."""

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "before": {str(k): v for k, v in self.before.items()},
                "after": {str(k): v for k, v in self.after.items()}, "not_moved": self.not_moved,
                "stayed": self.stayed, "skipped_shared": self.skipped_shared,
                "move": None if self.move is None else self.move.to_dict()}


def migrate_process(kernel: Kernel, pid: int, old: frozenset[int], new: frozenset[int], *,
                    chunked: bool = False, privileged: bool | None = None, budget: float = 0.020,
                    rate: float | None = None, progress: Progress | None = None,
                    stop: Callable[[], bool] | None = None) -> MigrateResult:
    """Move the pages of ``pid`` from the ``old`` nodes to the ``new`` ones as migrate_pages(2)
    maps them: in one call, or ``chunked`` through the mover (``budget``, ``rate``,
    ``progress``, ``stop``). Shared pages move too when the caller has CAP_SYS_NICE
    (``privileged``; read from the kernel when None)."""
    import numpy as np

    from numamove.kernel.syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
    from numamove.move.engine import move_units
    from numamove.move.from_scan import units_from_scan
    from numamove.move.pages import migrate_pages
    from numamove.policy.choosers import by_source, remap_nodes
    from numamove.scan import scan_process

    if privileged is None:
        privileged = kernel.has_cap_sys_nice()
    leaving = sorted(old - new)  # the nodes migrate_pages(2) empties; nodes in both keep their pages
    before = scan_process(pid, kernel=kernel, detail=False).pages_by_node
    result = None
    if chunked:
        mapping = remap_nodes(sorted(old), sorted(new))
        scan = scan_process(pid, kernel=kernel, pages=True, policies=False, present_only=True)
        units = units_from_scan(scan)
        units = units.subset(np.isin(units.nodes, list(old)))
        # migrate_pages(2) moves shared pages too when the caller may (CAP_SYS_NICE).
        result = move_units(pid, units, by_source(mapping),
                            flags=MPOL_MF_MOVE_ALL if privileged else MPOL_MF_MOVE, budget=budget, rate=rate,
                            progress=progress, stop=stop, kernel=kernel)
        not_moved = sum(result.failed.values())
    else:
        not_moved = migrate_pages(pid, old, new, kernel=kernel)
    after = scan_process(pid, kernel=kernel, detail=False).pages_by_node
    stayed = sum(after.get(node, 0) for node in leaving)
    # Without CAP_SYS_NICE the kernel skips pages other processes map and does not count
    # them as failures: what stayed beyond the failures is those.
    skipped_shared = (result.skipped_shared if result is not None
                      else 0 if privileged else max(stayed - not_moved, 0))
    return MigrateResult(pid, before, after, not_moved, stayed, skipped_shared, leaving, privileged, result)


def move_exit_status(*, interrupted: bool, failed: bool, shared_left: bool) -> int:
    """The exit status of move and migrate.

    130 interrupted; 1 pages that could move did not (or the process exited mid-way);
    3 everything that could move landed but pages other processes map were left; 0
    everything in scope landed.
    """
    if interrupted:
        return EXIT_INTERRUPTED
    if failed:
        return EXIT_FAILED
    return EXIT_SHARED_LEFT if shared_left else EXIT_OK


@dataclass
class Outcome:
    """The results of a run over processes, folded: was it interrupted, did shared pages stay,
    and the problems (one line each) that make it fail."""

    interrupted: bool = False
    shared_left: bool = False
    problems: list[str] = field(default_factory=list)

    def add_move(self, pid: int, result: MoveResult) -> None:
        self.interrupted |= result.interrupted
        self.shared_left |= result.skipped_shared > 0
        if result.stopped and not result.interrupted:
            self.problems.append(result.stopped)
        elif result.failed:
            self.problems.append(f"{sum(result.failed.values())} pages of pid {pid} did not end where asked")

    def add_migrate(self, result: MigrateResult) -> None:
        move = result.move
        self.interrupted |= move is not None and move.interrupted
        self.shared_left |= result.skipped_shared > 0
        if move is not None and move.stopped and not move.interrupted:
            self.problems.append(move.stopped)
        elif result.not_moved:
            self.problems.append(f"{result.not_moved} pages of pid {result.pid} could not be moved")

    @property
    def status(self) -> int:
        return move_exit_status(interrupted=self.interrupted, failed=bool(self.problems),
                                shared_left=self.shared_left)
