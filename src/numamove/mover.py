"""The mover: moves a set of pages of a live process to the nodes a chooser picks.

It is the user-space twin of the kernel's migrate_pages() with its new_page_t
allocator callback: a :class:`Chooser` names each unit's target node, and the
mover issues move_pages(2) calls in batches sized by a time budget and paced
by a rate limit, so the target process keeps running. Huge pages (THP,
hugetlb) move as units: one target per unit, one address per unit in the
call, so the kernel migrates the whole folio and never splits it for us.
"""

from __future__ import annotations

import math
import mmap
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from numamove._inputs import check_int, check_pid, node_ids
from numamove._syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
from numamove.errors import InputTypeError, InvalidInputError, InvalidRequestError, NoSuchProcessError
from numamove.kernel import Kernel, default_kernel
from numamove.nodemask import MAX_NUMNODES
from numamove.pages import move_pages
from numamove.placement import ProcessMemory
from numamove.status import PageStatus

__all__ = [
    "MAX_BUDGET",
    "MIN_BUDGET",
    "MIN_RATE",
    "CallTimes",
    "Chooser",
    "MoveResult",
    "Units",
    "balance",
    "by_source",
    "interleave",
    "move_units",
    "one_node",
    "plan",
    "remap_nodes",
    "thread_nodes",
    "units_from_scan",
]

PAGE_SIZE = mmap.PAGESIZE
HUGE_PAGES = (2 << 20) // PAGE_SIZE  # base pages in a PMD-mapped THP with 4 KiB pages
MAX_BATCH = 1 << 16

MIN_BUDGET, MAX_BUDGET = 0.001, 10.0
"""Bounds of ``budget`` in seconds: below 1 ms a call's fixed cost (~2 ms in an emulated
guest) is most of it; above 10 s the target could stall that long in one call."""
MIN_RATE = 10_000.0
"""The smallest ``rate``, in bytes per second (0.01 MB/s): two 4 KiB pages a second, and a
2 MiB huge page in under 4 minutes. Slower than that, a move looks hung."""

Chooser = Callable[["Units"], npt.NDArray[np.int32]]
"""Given the units to place, the target node of each (int32, one per unit)."""


@dataclass
class Units:
    """Movable units of a process: base pages, or whole huge pages.

    ``addresses[i]`` is the first byte of unit i, ``pages[i]`` its size in
    base pages (1, or 512 for a 2 MiB THP or hugetlb page), ``nodes[i]`` the
    node it is on now (negative when not present).
    """

    addresses: npt.NDArray[np.uint64]
    pages: npt.NDArray[np.int64]
    nodes: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.addresses)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Units:
        return Units(self.addresses[mask], self.pages[mask], self.nodes[mask])


class CallTimes:
    """The durations of move_pages(2) calls in constant memory: a log-scale histogram.

    Bins are 1% wide from 1 us to 1000 s, so the median is within 1%; the count,
    the total and the maximum are exact.
    """

    LOW, BINS_PER_DECADE, DECADES = 1e-6, 230, 9

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS_PER_DECADE * self.DECADES + 1, dtype=np.int64)
        self.count = 0
        self.total = 0.0
        self.longest = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.longest = max(self.longest, seconds)
        scaled = math.log10(max(seconds, self.LOW) / self.LOW) * self.BINS_PER_DECADE
        self.counts[min(int(scaled), len(self.counts) - 1)] += 1

    @property
    def median(self) -> float:
        """The median call time in seconds (0 without calls), the middle of its 1% bin."""
        if not self.count:
            return 0.0
        index = int(np.searchsorted(np.cumsum(self.counts), (self.count + 1) // 2))
        return min(self.LOW * 10 ** ((index + 0.5) / self.BINS_PER_DECADE), self.longest)

    def to_dict(self) -> dict[str, float]:
        return {"median_ms": self.median * 1000, "max_ms": self.longest * 1000,
                "mean_ms": self.total / self.count * 1000 if self.count else 0.0}


@dataclass
class MoveResult:
    """What a move did, page by page counted in base pages."""

    moved: dict[tuple[int, int], int] = field(default_factory=dict)
    """Base pages moved per (source node, target node)."""
    statuses: dict[int, int] = field(default_factory=dict)
    """Base pages per final status of the units asked to move: the target node, or -errno."""
    already_there: int = 0
    not_present: int = 0
    calls: int = 0
    retries: int = 0
    fallbacks: int = 0
    """Base pages placed on another allowed node because their target was full."""
    seconds: float = 0.0
    call_times: CallTimes = field(default_factory=CallTimes)
    """How long each move_pages(2) call took: median and maximum."""
    stopped: str | None = None
    """Why the move stopped early: "interrupted" (``stop`` said so), the process exited, or None."""
    not_tried: int = 0
    """Base pages never asked to move because the move stopped first (exit or interruption)."""
    skipped_shared: int = 0
    """Base pages left where they are because other processes map them too (-EACCES without
    MPOL_MF_MOVE_ALL): not a failure of a move that did not ask for them."""

    @property
    def longest_call(self) -> float:
        return self.call_times.longest

    @property
    def interrupted(self) -> bool:
        return self.stopped == INTERRUPTED

    @property
    def pages_moved(self) -> int:
        return sum(self.moved.values())

    @property
    def bytes_moved(self) -> int:
        return self.pages_moved * PAGE_SIZE

    @property
    def mb_per_second(self) -> float:
        return self.bytes_moved / 1e6 / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> dict[int, int]:
        """Base pages per negative status: what could move but did not end where it was asked to.

        Pages skipped as shared (see ``skipped_shared``) are not in it.
        """
        return {status: count for status, count in self.statuses.items()
                if status < 0 and not (status == _SHARED and self.skipped_shared)}

    def to_dict(self) -> dict[str, object]:
        return {
            "moved": [{"from": a, "to": b, "pages": n, "bytes": n * PAGE_SIZE}
                      for (a, b), n in sorted(self.moved.items())],
            "pages_moved": self.pages_moved,
            "bytes_moved": self.bytes_moved,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failed": {_status_name(k): v for k, v in self.failed.items()},
            "skipped_shared": self.skipped_shared,
            "not_tried": self.not_tried,
            "already_there": self.already_there,
            "not_present": self.not_present,
            "calls": self.calls,
            "retries": self.retries,
            "fallbacks": self.fallbacks,
            "seconds": self.seconds,
            "mb_per_second": self.mb_per_second,
            "longest_call_ms": self.longest_call * 1000,
            "call_ms": self.call_times.to_dict(),
            "stopped": self.stopped,
        }


def _status_name(status: int) -> str:
    try:
        return PageStatus(status).errno_name
    except ValueError:
        return str(status)


def one_node(node: int) -> Chooser:
    """Every unit to ``node``."""
    node = check_int(node, "node", low=0, high=MAX_NUMNODES - 1)
    return lambda units: np.full(len(units), node, dtype=np.int32)


def interleave(weights: Mapping[int, float]) -> Chooser:
    """Deal units over nodes in proportion to ``weights`` ({node: weight}), by base pages.

    It deals in address order, ignoring where pages are: a unit already on a
    node of the set may still be sent to another (:func:`balance` keeps them).
    The weights become a short cycle (3:1 is node 0, 0, 1, 0), and units are
    dealt along it in address order, a huge unit taking as many turns as it
    has base pages; so the running share of each node stays within a cycle of
    its weight anywhere in the range, not only in the total. Weights must be
    finite and positive; only their ratios matter (1e-9:1e-9 is 1:1).
    """
    nodes, shares = _shares(weights)
    turns = _cycle(shares)
    used = turns > 0
    nodes, turns = nodes[used], turns[used]
    # Each node's turns spread evenly over the cycle (3:1 gives 0, 0, 1, 0), so even a
    # range shorter than the cycle gets every node in its share.
    labels = np.repeat(nodes, turns)
    positions = np.concatenate([(np.arange(t) + 0.5) / t for t in turns])
    pattern = labels[np.argsort(positions, kind="stable")]

    def choose(units: Units) -> npt.NDArray[np.int32]:
        if len(units) == 0:
            return np.empty(0, dtype=np.int32)
        # Each unit's middle base page, counted in units of the smallest one, picks its turn.
        step = max(int(units.pages.min()), 1)
        ends = np.cumsum(units.pages) // step
        middles = ends - (units.pages // step + 1) // 2
        chosen: npt.NDArray[np.int32] = pattern[middles % len(pattern)]
        return chosen

    return choose


def _shares(weights: Mapping[int, float]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """Validated weights: the nodes in order, and their shares, which sum to 1.

    Each weight is divided by the largest before the sum is taken, so neither
    1e308 + 1e308 overflows nor 1e-9 vanishes.
    """
    if not isinstance(weights, Mapping):
        raise InputTypeError(f"weights must be a mapping of node to weight, not {type(weights).__name__}")
    if not weights:
        raise InvalidInputError("weights name no node: give at least one {node: weight}")
    values: list[float] = []
    for node in sorted(weights):
        check_int(node, "a node of weights", low=0, high=MAX_NUMNODES - 1)
        weight = weights[node]
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise InputTypeError(f"the weight of node {node} must be a number, not {type(weight).__name__}")
        if not math.isfinite(weight) or weight <= 0:
            raise InvalidInputError(f"the weight of node {node} must be finite and positive, not {weight}")
        values.append(float(weight))
    relative = np.array(values) / max(values)
    return np.array(sorted(weights), dtype=np.int32), relative / relative.sum()


def _cycle(shares: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Whole turns per node in proportion to ``shares`` (which sum to 1), in a cycle of at most
    about 1000 turns: exact for small whole-number ratios such as 3:1 or 1:1:1."""
    # The shortest cycle that holds the ratios exactly, all lengths tried at once.
    lengths = np.arange(1, 1001, dtype=np.float64)[:, None]
    turns = lengths * shares
    whole = np.round(turns)
    exact = (whole >= 1).all(axis=1) & (np.abs(turns - whole) <= 1e-6 * lengths).all(axis=1)
    if exact.any():
        found: npt.NDArray[np.int64] = whole[int(np.argmax(exact))].astype(np.int64)
        return found
    scaled: npt.NDArray[np.int64] = np.round(shares * 1000).astype(np.int64)
    scaled[np.argmax(shares)] = max(int(scaled.max()), 1)
    return scaled // int(np.gcd.reduce(scaled[scaled > 0]))


def balance(weights: Mapping[int, float]) -> Chooser:
    """Bring units to the shares ``weights`` names ({node: weight}) with the least movement.

    Counted in base pages (a huge unit counts its pages). A unit already on a
    node of the set stays unless that node holds more than its share; only each
    node's surplus moves (its units in address order), with every unit on a
    node outside the set, to the nodes short of their share, in proportion to
    what each lacks, dealt along the address range as :func:`interleave` deals.
    A page never moves from one node of the set to another that is over its
    share, and a set already in its shares moves nothing. Units not present
    stay as they are. Weights must be finite and positive.
    """
    nodes, shares = _shares(weights)

    def choose(units: Units) -> npt.NDArray[np.int32]:
        targets = units.nodes.astype(np.int32, copy=True)
        present = units.nodes >= 0
        total = int(units.pages[present].sum())
        if total == 0:
            return targets
        moving = present & ~np.isin(units.nodes, nodes)
        lacking: dict[int, float] = {}
        for node, share in zip(nodes.tolist(), shares.tolist(), strict=True):
            quota = total * share
            here = np.flatnonzero(units.nodes == node)
            pages = units.pages[here]
            held = int(pages.sum())
            # A node within a page of its share keeps everything: rounding moves nothing.
            surplus = held - math.ceil(quota - 1e-9 * quota)
            if surplus > 0:
                before = np.cumsum(pages) - pages
                # A unit goes when its middle lies within the surplus, so huge units round
                # to the nearer whole (a tie stays: less movement).
                moving[here[2 * before + pages < 2 * surplus]] = True
            elif quota > held:
                lacking[node] = quota - held
        if moving.any() and lacking:
            targets[moving] = interleave(lacking)(units.subset(moving))
        return targets

    return choose


def thread_nodes(memory: ProcessMemory) -> Chooser:
    """The nodes where the process's threads last ran, shared by how many threads ran on each.

    Pages already on those nodes stay unless a node holds more than its share (:func:`balance`).
    """
    counts: dict[int, float] = {}
    for thread in memory.threads:
        if thread.node is not None:
            counts[thread.node] = counts.get(thread.node, 0) + 1
    if not counts:
        raise InvalidInputError(f"pid {memory.pid} has no thread with a known node")
    return one_node(next(iter(counts))) if len(counts) == 1 else balance(counts)


def by_source(mapping: Mapping[int, int]) -> Chooser:
    """Each unit to ``mapping[its current node]``; units on other nodes stay where they are."""
    if not isinstance(mapping, Mapping):
        raise InputTypeError(f"mapping must map node to node, not {type(mapping).__name__}")
    for source, target in mapping.items():
        check_int(source, "a source node of mapping", low=0, high=MAX_NUMNODES - 1)
        check_int(target, f"the target of node {source} in mapping", low=0, high=MAX_NUMNODES - 1)

    def choose(units: Units) -> npt.NDArray[np.int32]:
        targets = units.nodes.copy()
        for source, target in mapping.items():
            targets[units.nodes == source] = target
        return targets

    return choose


def remap_nodes(old: Sequence[int], new: Sequence[int]) -> dict[int, int]:
    """migrate_pages(2)'s mapping: the n-th old node goes to the (n mod len(new))-th new node.

    Nodes in both sets stay where they are, as the kernel's do_migrate_pages() keeps them.
    """
    old_sorted = sorted(node_ids(old, "old", MAX_NUMNODES))
    new_sorted = sorted(node_ids(new, "new", MAX_NUMNODES))
    if not old_sorted or not new_sorted:
        raise InvalidInputError("both node sets need at least one node")
    return {node: (node if node in new_sorted else new_sorted[index % len(new_sorted)])
            for index, node in enumerate(old_sorted)}


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
    kernel: Kernel | None = None,
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
    kernel = kernel or default_kernel()
    result = MoveResult()
    started = time.monotonic()

    targets, there, pending, pending_targets = _prepare(units, chooser, result)
    total = int(pending.pages.sum())
    if progress is not None:
        progress(0, total)
    costs = _Costs()
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
        result.moved = _pair_counts(pending.nodes, pending_targets, pending.pages)
        for (_, target), count in result.moved.items():
            result.statuses[target] = result.statuses.get(target, 0) + count
    else:
        result.moved = _pair_counts(pending.nodes[landed], pending_targets[landed], pending.pages[landed])
        for status_value, count in _weighted_counts(final, pending.pages).items():
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


INTERRUPTED = "interrupted"
"""``MoveResult.stopped`` when ``stop()`` ended the move."""


def _check_setting(name: str, value: float, low: float, high: float, unit: str) -> float:
    """A finite number within [low, high], or InvalidInputError naming ``name`` and the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        bounds = f"at least {low:g}{unit}" if math.isinf(high) else f"from {low:g}{unit} to {high:g}{unit}"
        raise InvalidInputError(f"{name} must be a finite number {bounds}, not {value!r}")
    return number


class _Costs:
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


def plan(units: Units, chooser: Chooser) -> MoveResult:
    """What ``move_units`` would do with these units, without a syscall (a dry run)."""
    result = MoveResult()
    _, _, pending, pending_targets = _prepare(units, chooser, result)
    result.moved = _pair_counts(pending.nodes, pending_targets, pending.pages)
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


def _pair_counts(sources: npt.NDArray[np.int32], targets: npt.NDArray[np.int32],
                 pages: npt.NDArray[np.int64]) -> dict[tuple[int, int], int]:
    """Base pages per (source, target) pair: one bincount over source * width + target."""
    if len(sources) == 0:
        return {}
    low_source, high_source = int(sources.min()), int(sources.max())
    low_target, high_target = int(targets.min()), int(targets.max())
    if low_source == high_source and low_target == high_target:  # one pair: a sum, no table
        return {(low_source, low_target): int(pages.sum())}
    width = max(high_source, high_target) + 1
    keys = sources.astype(np.int64)
    keys *= width
    keys += targets
    sums = np.bincount(keys, weights=pages)
    return {(int(key) // width, int(key) % width): int(sums[key]) for key in np.flatnonzero(sums)}


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


def _weighted_counts(values: npt.NDArray[np.int32], weights: npt.NDArray[np.int64]) -> dict[int, int]:
    """Base pages per status: a bincount over node ids, a sort only for the rare failures."""
    counts: dict[int, int] = {}
    nodes = values >= 0
    if nodes.any():
        sums = np.bincount(values[nodes], weights=weights[nodes])
        counts.update({int(node): int(sums[node]) for node in np.flatnonzero(sums)})
    if not nodes.all():
        failed, inverse = np.unique(values[~nodes], return_inverse=True)
        totals = np.bincount(inverse.ravel(), weights=weights[~nodes], minlength=len(failed))
        counts.update({int(status): int(total) for status, total in zip(failed, totals, strict=True)})
    return counts
def units_from_scan(memory: ProcessMemory) -> Units:
    """The movable units of a per-page scan: huge pages whole, the rest as base pages.

    A hugetlb VMA is cut in units of its page size. In a VMA with transparent
    huge pages, each 2 MiB-aligned block whose 512 pages are present on one
    node (and, where PFNs were read, physically contiguous from an aligned
    head) is one unit, so the kernel moves the THP whole instead of being
    asked for its pages one by one.
    """
    parts: list[Units] = []
    for vma in memory.vmas:
        if vma.pages is None or len(vma.pages.addresses) == 0:
            continue
        addresses, nodes = vma.pages.addresses, vma.pages.nodes
        span = vma.page_size // PAGE_SIZE if vma.kind.value == "hugetlb" else HUGE_PAGES
        if span > 1 and (vma.kind.value == "hugetlb" or vma.thp_pages):
            parts.append(_huge_units(addresses, nodes, vma.pages.pfns, span, vma.kind.value == "hugetlb"))
        else:
            parts.append(Units(addresses, np.ones(len(addresses), dtype=np.int64), nodes))
    if not parts:
        return Units(np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int32))
    return Units(np.concatenate([p.addresses for p in parts]), np.concatenate([p.pages for p in parts]),
                 np.concatenate([p.nodes for p in parts]))


def _huge_units(addresses: npt.NDArray[np.uint64], nodes: npt.NDArray[np.int32],
                pfns: npt.NDArray[np.uint64] | None, span: int, always: bool) -> Units:
    """Group aligned blocks of ``span`` pages into one unit each where they form one huge page."""
    span_bytes = np.uint64(span * PAGE_SIZE)
    # Index of the first page of each whole aligned block.
    aligned = np.flatnonzero(addresses % span_bytes == 0)
    aligned = aligned[aligned + span <= len(addresses)]
    # A block is ``span`` pages in a row: with arrays of present pages alone, a gap shows
    # as a last address too far from the first.
    aligned = aligned[addresses[aligned + span - 1] - addresses[aligned] == span_bytes - np.uint64(PAGE_SIZE)]
    blocks = aligned[:, None] + np.arange(span)[None, :]
    block_nodes = nodes[blocks]
    whole = (block_nodes == block_nodes[:, :1]).all(axis=1) & (block_nodes[:, 0] >= 0)
    if pfns is not None and not always:
        block_pfns = pfns[blocks].astype(np.int64)
        whole &= ((block_pfns - block_pfns[:, :1]) == np.arange(span)).all(axis=1)
        whole &= block_pfns[:, 0] % span == 0
    if always:  # hugetlb: the block is one page whatever the statuses say
        whole = block_nodes[:, 0] >= 0
    keep = np.ones(len(addresses), dtype=bool)
    keep[blocks[whole][:, 1:].ravel()] = False  # the tails ride with their head
    sizes = np.ones(len(addresses), dtype=np.int64)
    sizes[aligned[whole]] = span
    return Units(addresses[keep], sizes[keep], nodes[keep])
