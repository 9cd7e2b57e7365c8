"""Record a profile for a while (kept in memory) and turn a profile's report into a plan.

Kernel interface: the trackers' (through numamove.profile.recorder), then
:func:`~numamove.planning.snapshot.take_snapshot`'s reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from numamove.kernel import Kernel
from numamove.planning.snapshot import take_snapshot
from numamove.policy.base import Policy
from numamove.policy.plan import Plan
from numamove.policy.snapshot import PastMove, Snapshot
from numamove.profile.memory import MemoryLog
from numamove.profile.recorder import Progress, Recording, build_header, record
from numamove.profile.report import Report, analyze
from numamove.trackers.base import Tracker

__all__ = ["plan_from_report", "record_report"]


def record_report(kernel: Kernel, pids: Sequence[int], trackers: Sequence[Tracker], *, interval: float,
                  duration: float, spec: str = "", stop: Callable[[], object] | None = None,
                  on_interval: Callable[[Progress], None] | None = None) -> tuple[Report, Recording]:
    """Track ``pids`` with ``trackers`` for ``duration`` seconds, every ``interval``, into a log kept in
    memory; its report, and how the recording ended (``stop()`` ends it early, as in ``record``)."""
    header = build_header(kernel, pids, [tracker.info for tracker in trackers], spec=spec or
                          ",".join(map(str, pids)), interval=interval)
    log = MemoryLog(header)
    # place=False: the snapshot reads the placement once, afterwards; per interval it would cost a
    # page-table walk of every process each time.
    recording = record(kernel, pids, trackers, interval=interval, duration=duration, writer=log, stop=stop,
                       on_interval=on_interval, place=False)
    return analyze(log.objects()), recording


def plan_from_report(kernel: Kernel, policy: Policy, report: Report, *, pids: Iterable[int] | None = None,
                     history: Sequence[PastMove] = (), interval: int = 0) -> tuple[Plan, Snapshot]:
    """The plan ``policy`` makes for ``report``'s processes as they are now, and the snapshot it saw."""
    snapshot = take_snapshot(kernel, report, pids=pids, history=history, interval=interval)
    plan = policy.plan(snapshot)
    return (replace(plan, created=time.time()) if not plan.created else plan), snapshot
