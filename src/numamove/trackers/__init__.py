"""Trackers: which memory of a process is used, and how hot it is, sampled per interval.

One module per tracker, each registering itself by name: softdirty
(clear_refs and pagemap's soft-dirty bit), damon (DAMON vaddr through its
sysfs; damon_sysfs and damon_owner are its writer and ownership record),
idlepage (page_idle's bitmap), numafaults (NUMA hinting faults from
/proc/PID/sched), threads (each thread's CPU and so its node); accesslog reads
access logs recorded before (perf mem, JSON Lines), and combine joins heat
from one tracker with accessing nodes from others. :mod:`numamove.trackers.base` holds the
:class:`Tracker` protocol, the :class:`Region` every tracker reports, and the
registry; its docstring says how to add a tracker.

What it may import: :mod:`numamove.kernel` (every read and write goes through
the ``Kernel`` a tracker is given), :mod:`numamove.procfs` parsers, the data
model and the standard library; never cli/, never a policy or the mover.
"""

from __future__ import annotations

# Each tracker module registers itself when imported.
from numamove.trackers import damon, idlepage, numafaults, softdirty, threads  # noqa: F401
from numamove.trackers.base import (
    REGISTRY,
    Availability,
    Region,
    Tracker,
    TrackerFactory,
    TrackerInfo,
    TrackerRegistry,
    available,
    get,
    names,
    register,
    tracking,
)

__all__ = [
    "REGISTRY",
    "Availability",
    "Region",
    "Tracker",
    "TrackerFactory",
    "TrackerInfo",
    "TrackerRegistry",
    "available",
    "get",
    "names",
    "register",
    "tracking",
]
