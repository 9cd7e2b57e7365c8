"""Trackers: which memory of a process is used, and how hot it is, sampled per interval.

None is here yet; this package is the room for them (soft-dirty, DAMON, idle
page tracking, NUMA hinting faults, access logs), one module per tracker,
each registering itself by name. :mod:`numamove.trackers.base` holds the
:class:`Tracker` protocol, the :class:`Region` every tracker reports, and the
registry; its docstring says how to add a tracker.

What it may import: :mod:`numamove.kernel` (every read and write goes through
the ``Kernel`` a tracker is given), :mod:`numamove.procfs` parsers, the data
model and the standard library; never cli/, never a policy or the mover.
"""

from __future__ import annotations

from numamove.trackers import softdirty  # noqa: F401  (registers "softdirty")
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

# Tracker modules register themselves when imported: list them here as they come.

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
