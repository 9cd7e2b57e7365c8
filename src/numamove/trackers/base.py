"""What every tracker is: the :class:`Tracker` protocol, the :class:`Region` it reports, a registry.

A tracker watches which memory of some processes is used, and how hot it is,
over time: soft-dirty bits (/proc/PID/clear_refs and pagemap), DAMON
(/sys/kernel/mm/damon/admin), idle page tracking
(/sys/kernel/mm/page_idle/bitmap), NUMA hinting faults (/proc/PID/sched,
/proc/vmstat). Each reports the same shape of data, a sequence of
:class:`Region` per interval, so placement policies do not care which one ran.

A tracker reads and writes only through the :class:`~numamove.kernel.Kernel`
it is given (clear_refs, DAMON's sysfs files and page_idle's bitmap included),
never with ``open()`` or ``os`` directly: a fixture tree then stands in for the
kernel in unit tests, and a dry-run kernel logs the writes instead of making
them. tests/unit/test_layout.py checks that trackers/ does no I/O of its own.

How to add a tracker, say ``numamove/trackers/softdirty.py``:

1. Write a class with a :class:`TrackerInfo` as ``info``, a static
   ``unavailable(kernel)`` that says in plain words why this kernel cannot run
   it (or returns None), and a constructor ``(kernel, pids, options)`` that
   refuses unknown options with :class:`~numamove.errors.InvalidInputError`.
   Its instances have ``start()``, ``sample()`` and ``stop()`` (the
   :class:`Tracker` protocol). Keep its state (buffers, counters, open files)
   on the instance, never in a module global.
2. At the bottom of the module, ``register("softdirty", SoftDirtyTracker)``.
3. Import the module in ``numamove/trackers/__init__.py`` so that it registers.
4. Unit-test it on a fixture tree with a kernel that logs its writes.

This module imports only the standard library and :mod:`numamove.errors`
(the Kernel for types only) and touches no kernel interface itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

from numamove._registry import NameRegistry
from numamove.errors import InvalidInputError, NumaMoveError

if TYPE_CHECKING:
    from numamove.kernel import Kernel

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


@dataclass(frozen=True)
class Region:
    """A range of one process's address space and how hot it was in one interval.

    ``start`` and ``end`` are addresses, ``end`` excluded (``[start, end)``).
    ``heat`` counts what ``heat_unit`` names ("accesses", "faults",
    "intervals accessed", ...): comparable between regions of one tracker, not
    across trackers. ``written`` is True or False when the tracker tells
    writes from reads (soft-dirty does), None when it cannot.
    ``heat`` is an intensity per page of the region, not a total over it: a
    region split in two keeps its heat in both halves, and adjacent regions of
    equal heat may merge.
    ``accessing_nodes`` maps a node id to the share (0 to 1, summing to 1) of
    the accesses that came from CPUs on that node (thread placement or NUMA
    hinting faults tell it), None when the tracker cannot tell.
    ``age`` is how long, in seconds, the region's access pattern has held
    (DAMON's age: aggregation intervals without a marked change in heat), None
    when the tracker cannot tell. A cold region with a large age has been
    idle that long.
    """

    pid: int
    start: int
    end: int
    heat: float
    heat_unit: str
    written: bool | None = None
    accessing_nodes: Mapping[int, float] | None = None
    age: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise InvalidInputError(f"a region is [start, end) with 0 <= start < end, not "
                                    f"[{self.start:#x}, {self.end:#x})")
        if self.heat < 0:
            raise InvalidInputError(f"a region's heat is not negative: {self.heat}")
        if self.age is not None and not self.age >= 0:
            raise InvalidInputError(f"a region's age is seconds, not negative: {self.age}")

    @property
    def size(self) -> int:
        """Bytes the region spans."""
        return self.end - self.start


@dataclass(frozen=True)
class TrackerInfo:
    """What a tracker is, for a person choosing one: what it sees, what it cannot, and what it costs."""

    name: str
    sees: str
    """What its heat counts, e.g. "pages written since the last interval (soft-dirty bits)"."""
    cannot_see: str
    """Its blind spots, e.g. "reads; which node's CPUs accessed a page"."""
    cost: str
    """Its overhead, e.g. "a pagemap read per interval; clears every dirty bit (TLB flush)"."""
    options: Mapping[str, str] = field(default_factory=dict)
    """The options its factory takes, name -> what it sets and its default, e.g.
    ``{"aggregation": "DAMON's aggregation interval (default 100ms)"}``."""
    heat_unit: str = ""
    """What its regions' heat counts, as each Region's ``heat_unit`` says it (a profile log's header
    names it before any region is seen)."""


class Tracker(Protocol):
    """A running tracker of some processes: started once, sampled once per interval, stopped once.

    Use it as ``with tracking(tracker): ...`` so that it is stopped (its
    kernel-side state undone: DAMON stopped, clear_refs left clean) even when
    the caller fails.
    """

    @property
    def info(self) -> TrackerInfo: ...

    def start(self) -> None:
        """Begin tracking: reset the kernel's counters and bits this tracker reads."""
        ...

    def sample(self) -> Iterator[Region]:
        """The regions seen since ``start()`` or the last ``sample()``, then reset for the next interval.

        The caller decides the interval (it sleeps between calls); regions of
        one sample do not overlap and come in (pid, address) order.
        """
        ...

    def stop(self) -> None:
        """End tracking and undo what ``start()`` set up in the kernel. Calling it twice is harmless."""
        ...


class TrackerFactory(Protocol):
    """What :func:`register` takes: usually the tracker's class itself.

    ``unavailable(kernel)`` says why this kernel cannot run the tracker (no
    DAMON, no CAP_SYS_ADMIN, page_idle not built), or returns None.
    Calling the factory builds a tracker of ``pids`` on ``kernel``; ``options``
    are strings (``interval=100ms``) from a command line or a daemon's
    configuration, and unknown ones are refused with InvalidInputError.
    """

    @property
    def info(self) -> TrackerInfo: ...

    def unavailable(self, kernel: Kernel) -> str | None: ...

    def __call__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> Tracker: ...


class Availability(NamedTuple):
    """Whether a tracker can run on a kernel, and if not, why in plain words ("" when it can)."""

    usable: bool
    why: str


class TrackerRegistry(NameRegistry[TrackerFactory]):
    """Tracker factories by name, as memtierd's TrackerRegister keeps them.

    It holds factories only, never a running tracker or its state; a daemon
    that watches many processes builds one tracker per job from here.
    """

    kind = "tracker"
    plural = "trackers"

    def build(self, kernel: Kernel, pids: Sequence[int], names: Sequence[str],
              options: Mapping[str, Mapping[str, str]] | None = None) -> list[Tracker]:
        """Each named tracker built for ``pids`` with its ``options`` (by tracker name), in order.

        An unknown name is refused listing the known ones, an unavailable tracker
        saying why, both before any is built (the command line and a daemon's
        configuration both come this way).
        """
        factories = [self.get(name) for name in names]
        usable = self.available(kernel)
        for name in names:
            if not usable[name].usable:
                raise InvalidInputError(f"tracker {name!r} is not available here: {usable[name].why}")
        options = options or {}
        return [factory(kernel, pids, options.get(name, {})) for name, factory in zip(names, factories,
                                                                                      strict=True)]

    def available(self, kernel: Kernel) -> dict[str, Availability]:
        """Each registered tracker's name -> whether it can run on ``kernel``, and why not.

        A probe that fails with a numamove error or an OSError (a file it
        reads is unreadable) makes its tracker unavailable, with the error as the why.
        """
        found: dict[str, Availability] = {}
        for name in self.names():
            try:
                why = self._factories[name].unavailable(kernel)
            except NumaMoveError as error:
                why = str(error)
            except OSError as error:  # a probe's read the Kernel did not translate: still an answer
                where = error.filename or 'a kernel file'
                why = f"its probe could not read {where}: {error.strerror or error}"
            found[name] = Availability(why is None, why or "")
        return found


REGISTRY = TrackerRegistry()
"""numamove's trackers: each tracker module registers itself here when it is imported."""


def register(name: str, factory: TrackerFactory) -> None:
    """Register ``factory`` as the tracker ``name`` in numamove's :data:`REGISTRY`."""
    REGISTRY.register(name, factory)


def get(name: str) -> TrackerFactory:
    """The factory of numamove's tracker ``name``; InvalidInputError listing the known ones if none."""
    return REGISTRY.get(name)


def names() -> list[str]:
    """The names of numamove's trackers, sorted."""
    return REGISTRY.names()


def available(kernel: Kernel) -> dict[str, Availability]:
    """Each of numamove's trackers -> whether it can run on ``kernel``, and why not."""
    return REGISTRY.available(kernel)


@contextmanager
def tracking(tracker: Tracker) -> Iterator[Tracker]:
    """Start ``tracker``, and stop it on the way out, whatever happened inside.

    A ``start()`` that fails half-way is stopped too: ``stop()`` undoes whatever
    part of the set-up was done.
    """
    try:
        tracker.start()
        yield tracker
    finally:
        tracker.stop()
