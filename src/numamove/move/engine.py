"""The budgeted mover: moves a set of pages of a live process to the nodes a chooser picks.

It is the user-space twin of the kernel's migrate_pages() with its new_page_t
allocator callback: a :class:`~numamove.policy.units.Chooser` names each unit's target
node, and the mover issues move_pages(2) calls in batches sized by a time budget and
paced by a rate limit, so the target process keeps running. Huge pages (THP,
hugetlb) move as units: one target per unit, one address per unit in the
call, so the kernel migrates the whole folio and never splits it for us.
``preview`` says what a move would do without a syscall (a dry run).

Kernel interface: move_pages(2) through numamove.move.pages, and /proc/PID/status
(has the process exited?) through a Kernel.
May import: numpy, numamove.kernel, numamove.status, numamove.errors, numamove.policy.units,
numamove.move.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from numamove._inputs import check_pid
from numamove.errors import InputTypeError, InvalidInputError, InvalidRequestError, NoSuchProcessError
from numamove.kernel import DEFAULT, Kernel, takes_kernel_or_default
from numamove.kernel.syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
from numamove.move.pages import move_pages
from numamove.move.result import (
    HUGE_PAGES,
    INTERRUPTED,
    PAGE_SIZE,
    MoveResult,
    pair_counts,
    weighted_counts,
)
from numamove.policy.units import Chooser, Units
from numamove.status import PageStatus

__all__ = ["MAX_BUDGET", "MIN_BUDGET", "MIN_RATE", "CallCosts", "move_units", "preview"]

MAX_BATCH = 1 << 16

MIN_BUDGET, MAX_BUDGET = 0.001, 10.0
"""Bounds of ``budget`` in seconds: below 1 ms a call's fixed cost (~2 ms in an emulated
guest) is most of it; above 10 s the target could stall that long in one call."""
MIN_RATE = 10_000.0
"""The smallest ``rate``, in bytes per second (0.01 MB/s): two 4 KiB pages a second, and a
2 MiB huge page in under 4 minutes. Slower than that, a move looks hung."""


@takes_kernel_or_default
def move_units(
    pid: int,
    units: Units,
    chooser: Chooser,
    *,
    flags: int = MPOL_MF_MOVE,
    budget: float = 0.020,
    rate: float | None = None,
    retries: int = 3,
    fallback: Callable[[int], Sequence[int]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: Callable[[], bool] | None = None,
    kernel: Kernel = DEFAULT,
) -> MoveResult:
    """Move ``units`` of ``pid`` to the nodes ``chooser`` picks, with move_pages(2).

    - Units already on their target, and units not present, are skipped before any call.
    - Each call covers as many units as ``budget`` seconds of kernel work allows (the
      mover measures the cost of a base page and of a huge page and adapts); ``rate``
      caps bytes per second. The budget sizes the batches, it does not bound a call: a
      call takes longer when pages cost more than the ones before (contention on page
      locks, the target faulting, the machine preempting the caller). ``call_times``
      in the result says what the calls took.
    - -EBUSY units are retried ``retries`` times with a growing pause.
    - -ENOMEM (target full) units go to the next node ``fallback(target)`` lists, if any.
    - Without MPOL_MF_MOVE_ALL in ``flags``, units other processes map (-EACCES) are
      counted in ``skipped_shared``, not in ``failed``.
    - ``stop()`` is asked before each call and during rate pauses (pass
      ``threading.Event().is_set``, or a flag a signal handler sets); when it says
      True the move ends after the running call, with ``stopped == "interrupted"``.
    - If the process exits, the result so far is returned with ``stopped`` set.
      Units never asked in either case are counted in ``not_tried``.

    ``progress(done, total)`` is told the base pages handled so far, (0, total) first.
    ``budget`` is in seconds (1 ms to 10 s), ``rate`` in bytes per second (at least
    :data:`MIN_RATE`); both must be finite.
    """
    pid = check_pid(pid)  # refused even when there is nothing to move
    budget = _check_setting("budget", budget, MIN_BUDGET, MAX_BUDGET, "s")
    if rate is not None:
        rate = _check_setting("rate", rate, MIN_RATE, math.inf, " bytes/s")
    result = MoveResult()
    started = time.monotonic()

    targets, there, pending, pending_targets = _prepare(units, chooser, result)
    total = int(pending.pages.sum())
    if progress is not None:
        progress(0, total)
    costs = CallCosts()
    last_batch = last_landed = 0
    final = np.full(len(pending), _NOT_TRIED, dtype=np.int32)

    attempt = 0
    todo: npt.NDArray[np.intp] | None = None  # None: the first pass, every unit in order
    sent_pages = 0
    while True:
        count = len(pending) if todo is None else len(todo)
        if count == 0:
            break
        sizes = pending.pages if todo is None else pending.pages[todo]
        cumulative = np.cumsum(sizes)
        cumulative_huge = np.cumsum(sizes > 1, dtype=np.int64)
        position = 0
        busy: list[npt.NDArray[np.intp]] = []
        while position < count:
            if stop is not None and stop():
                result.stopped = INTERRUPTED
                break
            batch = costs.batch_size(cumulative, cumulative_huge, position, budget, last_batch, last_landed)
            last_batch = batch
            # The first pass takes contiguous slices: views, not copies, of the arrays.
            chosen = slice(position, position + batch) if todo is None else todo[position:position + batch]
            before = int(cumulative[position - 1]) if position else 0
            batch_pages = int(cumulative[position + batch - 1]) - before
            batch_huge = int(cumulative_huge[position + batch - 1]) - (
                int(cumulative_huge[position - 1]) if position else 0)
            if rate is not None and not _pace((sent_pages + batch_pages) * PAGE_SIZE, started, rate, stop):
                result.stopped = INTERRUPTED
                break
            call_started = time.monotonic()
            try:
                # A first-pass slice writes its statuses straight into ``final``: no copy.
                status = move_pages(pid, pending.addresses[chosen], pending_targets[chosen], flags,
                                    kernel=kernel, out=final[chosen] if todo is None else None)
            except (NoSuchProcessError, InvalidRequestError) as error:
                # An exiting process (its memory map already torn down) or a zombie
                # answers EINVAL, not ESRCH.
                if isinstance(error, InvalidRequestError) and not _exited(kernel, pid):
                    raise
                final[chosen] = _NOT_TRIED  # the failed call may have written to them
                result.stopped = f"process {pid} exited during the move"
                break
            took = time.monotonic() - call_started
            result.calls += 1
            result.call_times.add(took)
            if todo is not None:
                final[chosen] = status
            failed = int(status.min()) < 0 if len(status) else False
            costs.learn(took, batch - batch_huge, batch_huge)
            # Refused pages cost next to nothing: after a batch of them, grow from what landed.
            last_landed = int((status == pending_targets[chosen]).sum()) if failed else batch
            busy.append(_picked(chosen, status == _BUSY) if failed else _NONE)
            full = _picked(chosen, status == _NODE_FULL) if failed else _NONE
            if len(full) and fallback is not None:
                if pending_targets is targets:  # the chooser's array: not ours to change
                    pending_targets = targets.copy()
                result.fallbacks += _redirect(full, pending_targets, fallback, pending.pages)
                busy.append(full)  # retried now with their new targets
            position += batch
            sent_pages += batch_pages
            if progress is not None:
                progress(min(sent_pages, total), total)
        if result.stopped:
            break
        todo = np.concatenate(busy)
        if not len(todo) or attempt >= retries:
            break
        attempt += 1
        result.retries += 1
        time.sleep(0.01 * 2 ** (attempt - 1))

    landed = final == pending_targets
    if landed.all():  # the usual end: every status is its target node, so the pairs say it all
        result.moved = pair_counts(pending.nodes, pending_targets, pending.pages)
        for (_, target), count in result.moved.items():
            result.statuses[target] = result.statuses.get(target, 0) + count
    else:
        result.moved = pair_counts(pending.nodes[landed], pending_targets[landed], pending.pages[landed])
        for status_value, count in weighted_counts(final, pending.pages).items():
            result.statuses[status_value] = result.statuses.get(status_value, 0) + count
        result.not_tried = result.statuses.pop(_NOT_TRIED, 0)
        if not flags & MPOL_MF_MOVE_ALL:
            result.skipped_shared = result.statuses.get(_SHARED, 0)
    if result.already_there:
        for node in np.unique(targets[there]).tolist():
            pages_there = int(units.pages[there & (targets == node)].sum())
            result.statuses[node] = result.statuses.get(node, 0) + pages_there
    result.seconds = time.monotonic() - started
    return result


def _check_setting(name: str, value: float, low: float, high: float, unit: str) -> float:
    """A finite number within [low, high], or InvalidInputError naming ``name`` and the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        bounds = f"at least {low:g}{unit}" if math.isinf(high) else f"from {low:g}{unit} to {high:g}{unit}"
        raise InvalidInputError(f"{name} must be a finite number {bounds}, not {value!r}")
    return number


class CallCosts:
    """What a base page and a huge page cost to move, learnt call by call.

    A THP or hugetlb page moves as one folio, far cheaper than as many base pages,
    so one cost per base page would misjudge a batch of the other kind by up to
    hundreds of times. An estimate follows each call, but rises at most fourfold a
    call, so one stalled call does not shrink the batches to a page.
    """

    def __init__(self) -> None:
        self.base = 0.0  # seconds per base-page unit; 0 until a call measured one
        self.huge = 0.0  # seconds per huge unit

    def learn(self, took: float, base_units: int, huge_units: int) -> None:
        """Account a call of ``took`` seconds over these units."""
        if base_units + huge_units == 0:
            return
        took = max(took, 1e-7)
        if huge_units == 0:
            self.base = self._blend(self.base, took / base_units)
        elif base_units == 0:
            self.huge = self._blend(self.huge, took / huge_units)
        else:
            expected = base_units * self._base_cost + huge_units * self._huge_cost
            ratio = took / expected
            self.base = self._blend(self.base, self._base_cost * ratio)
            self.huge = self._blend(self.huge, self._huge_cost * ratio)

    @staticmethod
    def _blend(old: float, seen: float) -> float:
        # One call that stalled (the machine, not its pages) must not shrink the next batches to a
        # page: a cost rises at most fourfold a call, as a batch grows at most fourfold.
        return seen if old == 0 else min(seen, 4 * old)

    @property
    def _base_cost(self) -> float:
        return self.base or self.huge / HUGE_PAGES or 1e-5

    @property
    def _huge_cost(self) -> float:
        # Unknown: as dear as its base pages one by one, the safe side.
        return self.huge or self.base * HUGE_PAGES or 1e-5 * HUGE_PAGES

    def batch_size(self, cumulative: npt.NDArray[np.int64], cumulative_huge: npt.NDArray[np.int64],
                   position: int, budget: float, last_batch: int, last_landed: int) -> int:
        """How many units from ``position`` fit in ``budget`` seconds.

        The first call is small (nothing is known yet), and a batch at most
        quadruples from one call to the next, so one misjudged call cannot blow
        the budget far. After a call where units were refused (shared, busy),
        which cost next to nothing, it at most doubles what landed: the next
        units may all move.
        """
        window = slice(position, position + min(MAX_BATCH, 4 * last_batch or MAX_BATCH))
        if not self.base and not self.huge:
            before = int(cumulative[position - 1]) if position else 0
            covered = int(np.searchsorted(cumulative[window], before + CALIBRATION_PAGES, side="right"))
        else:
            huge_before = int(cumulative_huge[position - 1]) if position else 0
            huge = cumulative_huge[window] - huge_before
            base = np.arange(1, len(huge) + 1) - huge
            cost = base * self._base_cost + huge * self._huge_cost
            covered = int(np.searchsorted(cost, budget, side="right"))
        if last_batch:
            covered = min(covered, 4 * last_batch if last_landed == last_batch else 2 * max(last_landed, 64))
        return min(max(covered, 1), len(cumulative[window]))


def _exited(kernel: Kernel, pid: int) -> bool:
    """Whether ``pid`` is gone, a zombie, or exiting without a memory map (/proc/PID/status)."""
    try:
        status = kernel.process_status(pid)
    except OSError:
        return True
    return status.get("State", "")[:1] in ("Z", "X") or "VmSize" not in status


_BUSY = int(PageStatus.BUSY)
_NODE_FULL = int(PageStatus.NODE_FULL)
_SHARED = int(PageStatus.SHARED)
_NOT_TRIED = -(2**31) + 1  # no node id or errno: a unit no call was asked about
_NONE: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)


CALIBRATION_PAGES = 32
"""Base pages in the first call, before the cost of a page on this machine is known."""


def preview(units: Units, chooser: Chooser) -> MoveResult:
    """What ``move_units`` would do with these units, without a syscall (a dry run)."""
    result = MoveResult()
    _, _, pending, pending_targets = _prepare(units, chooser, result)
    result.moved = pair_counts(pending.nodes, pending_targets, pending.pages)
    return result


def _prepare(units: Units, chooser: Chooser, result: MoveResult) -> tuple[
        npt.NDArray[np.int32], npt.NDArray[np.bool_], Units, npt.NDArray[np.int32]]:
    """Ask the chooser, count what is skipped into ``result``, and return what is to move.

    Returns (every unit's target, which units are already there, the units to move
    and their targets).
    """
    targets = np.asarray(chooser(units), dtype=np.int32)
    if targets.shape != units.nodes.shape:
        raise InvalidInputError(f"the chooser gave {targets.size} targets for {len(units)} units")
    there = targets == units.nodes
    # The usual case, every unit present and none there yet, takes no copies.
    all_present = not len(units) or int(units.nodes.min()) >= 0
    if all_present and not there.any():
        return targets, there, units, targets
    present = units.nodes >= 0
    there &= present
    result.not_present = int(units.pages[~present].sum())
    result.already_there = int(units.pages[there].sum())
    to_move = present & ~there
    return targets, there, units.subset(to_move), targets[to_move]


def _picked(chosen: slice | npt.NDArray[np.intp], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """The unit indexes of a batch where ``mask`` holds."""
    if isinstance(chosen, slice):
        return np.flatnonzero(mask) + (chosen.start or 0)
    return chosen[mask]


def _pace(bytes_after_call: int, started: float, rate: float, stop: Callable[[], bool] | None) -> bool:
    """Sleep until the bytes moved by the end of the next call fit under ``rate`` bytes per second.

    Paying for a batch before it moves keeps the average at or under the rate
    from the first call to the last. The sleep is cut in slices of a tenth of a
    second to ask ``stop()``; returns False when it said stop.
    """
    while True:
        ahead = bytes_after_call / rate - (time.monotonic() - started)
        if stop is not None and stop():
            return False
        if ahead <= 0:
            return True
        time.sleep(min(ahead, 0.1))


def _redirect(full: npt.NDArray[np.intp], targets: npt.NDArray[np.int32],
              fallback: Callable[[int], Sequence[int]], pages: npt.NDArray[np.int64]) -> int:
    """Point units whose target was full at the next node the fallback lists; returns base pages."""
    redirected = 0
    for node in np.unique(targets[full]).tolist():
        options = [other for other in fallback(node) if other != node]
        if options:
            units = full[targets[full] == node]
            targets[units] = options[0]
            redirected += int(pages[units].sum())
    return redirected
