"""The daemon's Prometheus metrics: what moved where, what failed, the hot share, the cost.

``DaemonMetrics`` keeps its own CollectorRegistry (never prometheus-client's
global one), so tests and several daemons in one process do not collide.
Names follow Prometheus' conventions: the ``numamove_`` prefix, base units
(bytes, seconds) in the name, ``_total`` on counters. Labels are few and
bounded: ``selection`` (the config's selection name), node ids, the move's
direction, an errno name, an error kind; never a pid, a page or an address.

The metrics (all labelled by ``selection``)::

    numamove_plan_moves, numamove_plan_bytes                    gauges: the last plan's size
    numamove_moved_bytes_total, numamove_moved_pages_total      {source, target, direction}
    numamove_failed_pages_total                                 {status}: EBUSY, ENOMEM, ...
    numamove_moves_skipped_total                                moves skipped (node offline, cpuset)
    numamove_cycle_duration_seconds                             histogram, 0.1 s to 300 s
    numamove_cycles_total, numamove_last_cycle_timestamp_seconds
    numamove_tracker_cpu_seconds_total, numamove_mover_cpu_seconds_total
    numamove_hot_local_ratio, numamove_hot_top_tier_ratio       gauges from 0 to 1, absent when unknown
    numamove_processes                                          gauge: processes managed
    numamove_errors_total                                       {kind}

and, unless turned off, prometheus-client's ``process_*`` metrics of the
daemon itself (CPU seconds, resident bytes, open files), read from /proc/self.

Pages are base pages (a huge page counts its 512), as numamove.move counts
them. Thread-safe: the loop observes while the HTTP server renders.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from numamove.move.apply import ApplyResult
from numamove.move.result import status_name
from numamove.policy.measures import hot_shares
from numamove.policy.plan import Plan
from numamove.policy.snapshot import Snapshot

__all__ = ["CONTENT_TYPE", "CYCLE_BUCKETS", "DaemonMetrics", "failed_pages", "moved_pages"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of ``render()``: Prometheus' text format 0.0.4 (what every Prometheus reads)."""

CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Upper bounds, in seconds, of the cycle duration histogram (and +Inf)."""

_Series = tuple[MetricWrapperBase, tuple[str, ...]]
_Metric = TypeVar("_Metric", bound=MetricWrapperBase)


class DaemonMetrics:
    """The daemon's metrics in a registry of their own; ``render()`` is the text exposition.

    ``process=False`` leaves out the daemon's own ``process_*`` metrics (which
    read /proc/self at each scrape).
    """

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._series: dict[str, set[_Series]] = {}
        """The label sets made per selection, so that ``forget`` removes them all."""
        registry = self.registry
        selection = ("selection",)
        self.plan_moves = Gauge("numamove_plan_moves", "Moves in the selection's last plan.",
                                selection, registry=registry)
        self.plan_bytes = Gauge("numamove_plan_bytes", "Bytes the selection's last plan moves.",
                                selection, registry=registry)
        pair = ("selection", "source", "target", "direction")
        self.moved_bytes = Counter("numamove_moved_bytes", "Bytes moved, by source node, target node and "
                                   "direction (the move's kind: promote, demote, locality, balance).",
                                   pair, registry=registry)
        self.moved_pages = Counter("numamove_moved_pages", "Base pages moved, by source node, target node "
                                   "and direction.", pair, registry=registry)
        self.failed_pages = Counter("numamove_failed_pages", "Base pages that could move but did not, by "
                                    "move_pages(2) status (errno name).", ("selection", "status"),
                                    registry=registry)
        self.moves_skipped = Counter("numamove_moves_skipped", "Moves of a plan skipped before they ran "
                                     "(node offline or without memory, target outside the cpuset).",
                                     selection, registry=registry)
        self.cycle_duration = Histogram("numamove_cycle_duration_seconds", "Wall-clock seconds of one "
                                        "cycle (track, plan, move).", selection, buckets=CYCLE_BUCKETS,
                                        registry=registry)
        self.cycles = Counter("numamove_cycles", "Cycles run.", selection, registry=registry)
        self.last_cycle = Gauge("numamove_last_cycle_timestamp_seconds", "Unix time the last cycle "
                                "ended.", selection, registry=registry)
        self.tracker_cpu = Counter("numamove_tracker_cpu_seconds", "CPU seconds the trackers used "
                                   "(kernel threads such as kdamond included when the loop measures them).",
                                   selection, registry=registry)
        self.mover_cpu = Counter("numamove_mover_cpu_seconds", "CPU seconds moving pages took.",
                                 selection, registry=registry)
        self.hot_local = Gauge("numamove_hot_local_ratio", "Share of the hot memory (weighted by heat x "
                               "bytes) on the node making most of its accesses; absent when unknown.",
                               selection, registry=registry)
        self.hot_top_tier = Gauge("numamove_hot_top_tier_ratio", "Share of the hot memory (weighted by "
                                  "heat x bytes) on the fastest memory tier; absent when unknown.",
                                  selection, registry=registry)
        self.processes = Gauge("numamove_processes", "Processes the selection manages now.",
                               selection, registry=registry)
        self.errors = Counter("numamove_errors", "Errors met, by kind.", ("selection", "kind"),
                              registry=registry)
        if process:
            ProcessCollector(registry=registry)

    # --- observing -----------------------------------------------------------------------------------

    def observe_plan(self, selection: str, plan: Plan) -> None:
        """The last plan's size: its moves and the bytes they would move."""
        pages = sum(move.pages for move in plan.moves)
        with self._lock:
            self._child(self.plan_moves, selection).set(len(plan.moves))
            self._child(self.plan_bytes, selection).set(pages * plan.page_size)

    def observe_apply(self, selection: str, result: ApplyResult, page_size: int) -> None:
        """Count what a plan's application moved (per node pair as it landed, and the move's kind as
        direction), the pages that failed per status, and the moves skipped.

        ``page_size`` turns base pages into bytes (the pages of numamove.move are base pages).
        """
        moved = moved_pages(result)
        failed = failed_pages(result)
        with self._lock:
            for (source, target, kind), pages in moved.items():
                labels = (str(source), str(target), kind)
                self._child(self.moved_pages, selection, *labels).inc(pages)
                self._child(self.moved_bytes, selection, *labels).inc(pages * page_size)
            for name, count in failed.items():
                self._child(self.failed_pages, selection, name).inc(count)
            self._child(self.moves_skipped, selection).inc(result.skipped)

    def observe_cycle(self, selection: str, seconds: float, tracker_cpu_seconds: float,
                      mover_cpu_seconds: float) -> None:
        """One cycle ended: its wall-clock duration and the CPU time its tracker and mover used.

        A negative or non-finite figure counts as 0 (a counter only goes up).
        """
        with self._lock:
            self._child(self.cycle_duration, selection).observe(_amount(seconds))
            self._child(self.cycles, selection).inc()
            self._child(self.last_cycle, selection).set_to_current_time()
            self._child(self.tracker_cpu, selection).inc(_amount(tracker_cpu_seconds))
            self._child(self.mover_cpu, selection).inc(_amount(mover_cpu_seconds))

    def set_hot_share(self, selection: str, local: float | None, top_tier: float | None) -> None:
        """The shares of hot memory that are local and on the top tier (numamove.policy.measures).

        None (or NaN) removes the gauge's series: absent rather than NaN, so that
        ``avg()`` and alerts over selections see only the known shares. Other
        values are clamped to [0, 1].
        """
        with self._lock:
            for gauge, value in ((self.hot_local, local), (self.hot_top_tier, top_tier)):
                if value is None or math.isnan(value):
                    self._drop(gauge, selection)
                else:
                    self._child(gauge, selection).set(min(1.0, max(0.0, value)))

    def observe_snapshot(self, selection: str, snapshot: Snapshot, min_heat: float = 0.0) -> None:
        """The hot shares of the snapshot a plan was made from (``set_hot_share`` of
        numamove.policy.measures.hot_shares: hot is a heat above 0 and at least ``min_heat``)."""
        local, top_tier = hot_shares(snapshot, min_heat)
        self.set_hot_share(selection, local, top_tier)

    def set_processes(self, selection: str, count: int) -> None:
        """How many processes the selection manages now."""
        with self._lock:
            self._child(self.processes, selection).set(count)

    def observe_error(self, selection: str, kind: str) -> None:
        """An error of ``kind`` (a short fixed word chosen by the caller, e.g. "tracker", "plan",
        "apply", "process_gone": never a message, which would make a series per text)."""
        with self._lock:
            self._child(self.errors, selection, kind).inc()

    def forget(self, selection: str) -> None:
        """Remove every series of ``selection`` (the config dropped it): its counters end there."""
        with self._lock:
            for metric, values in self._series.pop(selection, set()):
                _remove(metric, values)

    # --- reading -------------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The metrics in Prometheus' text format (``CONTENT_TYPE``), without prometheus-client's
        ``*_created`` series: in this format they are gauges of their own that double the series
        count (prometheus-client's switch for them is process-wide, so they are left out here)."""
        return generate_latest(_WithoutCreated(self.registry))

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value by its full name (``numamove_cycles_total``), None when absent."""
        return self.registry.get_sample_value(name, labels)

    def selections(self) -> list[str]:
        """The selections that have series now."""
        with self._lock:
            return sorted(self._series)

    # --- label sets ----------------------------------------------------------------------------------

    def _child(self, metric: _Metric, selection: str, *rest: str) -> _Metric:
        values = (selection, *rest)
        self._series.setdefault(selection, set()).add((metric, values))
        return metric.labels(*values)

    def _drop(self, metric: MetricWrapperBase, selection: str, *rest: str) -> None:
        values = (selection, *rest)
        known = self._series.get(selection)
        if known is not None and (metric, values) in known:
            known.discard((metric, values))
            _remove(metric, values)


def _remove(metric: MetricWrapperBase, values: Sequence[str]) -> None:
    with contextlib.suppress(KeyError):  # older prometheus-client raises on a label set it lacks
        metric.remove(*values)


class _WithoutCreated:
    """A registry's metrics less the ``*_created`` samples of counters and histograms."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():  # fresh families at each call: ours to trim
            if family.type in ("counter", "histogram"):
                family.samples = [sample for sample in family.samples if not sample.name.endswith("_created")]
            yield family


def moved_pages(result: ApplyResult) -> dict[tuple[int, int, str], int]:
    """Base pages moved per (source node, target node, the move's kind), as they landed: a page the
    mover placed on another node (its target was full) counts on the pair it took."""
    moved: dict[tuple[int, int, str], int] = {}
    for outcome in result.outcomes:
        if outcome.result is not None:
            pairs = outcome.result.moved.items()
        else:
            pairs = {(outcome.move.source, outcome.move.target): outcome.moved}.items()
        for (source, target), pages in pairs:
            if pages > 0:
                key = (source, target, outcome.move.kind)
                moved[key] = moved.get(key, 0) + pages
    return moved


def failed_pages(result: ApplyResult) -> dict[str, int]:
    """Base pages that could move but did not, per errno name ("EBUSY"); shared pages left in place
    are not failures (numamove.move.result.MoveResult.failed)."""
    failed: dict[str, int] = {}
    for outcome in result.outcomes:
        if outcome.result is not None:
            for status, count in outcome.result.failed.items():
                if count > 0:
                    name = _errno_label(status)
                    failed[name] = failed.get(name, 0) + count
    return failed


def _errno_label(status: int) -> str:
    """"EBUSY" for -EBUSY (status_name says "-EBUSY"); an unknown status stays its number."""
    name = status_name(status)
    return name[1:] if name.startswith("-E") else name


def _amount(seconds: float) -> float:
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0
