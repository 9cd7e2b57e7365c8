from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from numamove.errors import InvalidInputError, TopologyError
from numamove.kernel import Kernel
from numamove.trackers import (
    REGISTRY,
    Availability,
    Region,
    TrackerInfo,
    TrackerRegistry,
    available,
    get,
    names,
    tracking,
)

from .conftest import FIXTURES

KERNEL = Kernel(FIXTURES / "qemu-3node-hmat")


class Written:
    """A tracker that reports one written region of its first pid, and records its calls."""

    info: ClassVar[TrackerInfo] = TrackerInfo("written", "pages written per interval", "reads", "free")
    calls: ClassVar[list[str]] = []

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        if set(options) - {"interval"}:
            raise InvalidInputError(f"unknown options: {', '.join(sorted(set(options) - {'interval'}))}")
        self.kernel = kernel
        self.pids = list(pids)

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        return None if kernel.path("sys/devices/system/node").is_dir() else "no NUMA nodes"

    def start(self) -> None:
        self.calls.append("start")

    def sample(self) -> Iterator[Region]:
        self.calls.append("sample")
        yield Region(self.pids[0], 0x1000, 0x3000, 2.0, "pages written", written=True)

    def stop(self) -> None:
        self.calls.append("stop")


class Broken(Written):
    info: ClassVar[TrackerInfo] = TrackerInfo("broken", "nothing", "everything", "a failed probe")

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        raise TopologyError("cannot read /sys/kernel/mm/damon/admin")


def test_registered_trackers_are_found_by_name_and_listed_sorted() -> None:
    registry = TrackerRegistry()
    registry.register("written", Written)
    registry.register("broken", Broken)
    assert registry.names() == ["broken", "written"]
    assert registry.get("written") is Written


def test_unknown_tracker_names_the_known_ones() -> None:
    registry = TrackerRegistry()
    with pytest.raises(InvalidInputError, match="no tracker is called 'damon'; the trackers: none is regist"):
        registry.get("damon")
    registry.register("written", Written)
    registry.register("broken", Broken)
    with pytest.raises(InvalidInputError, match=r"'damon'; the trackers: broken, written$"):
        registry.get("damon")


def test_a_name_is_registered_once_and_is_a_plain_word() -> None:
    registry = TrackerRegistry()
    registry.register("written", Written)
    with pytest.raises(InvalidInputError, match="'written' is already registered"):
        registry.register("written", Broken)
    for bad in ("", "Soft dirty", "-x", "dämon"):
        with pytest.raises(InvalidInputError, match="a tracker's name"):
            registry.register(bad, Written)


def test_available_says_which_trackers_run_on_a_kernel_and_why_not(tmp_path: Path) -> None:
    registry = TrackerRegistry()
    registry.register("written", Written)
    registry.register("broken", Broken)
    assert registry.available(KERNEL) == {
        "broken": Availability(False, "cannot read /sys/kernel/mm/damon/admin"),
        "written": Availability(True, ""),
    }
    assert registry.available(Kernel(tmp_path))["written"] == (False, "no NUMA nodes")


def test_a_factory_builds_a_tracker_that_tracking_starts_and_stops() -> None:
    registry = TrackerRegistry()
    registry.register("written", Written)
    Written.calls.clear()
    tracker = registry.get("written")(KERNEL, [42], {"interval": "1s"})
    with pytest.raises(RuntimeError, match="the caller failed"), tracking(tracker):
        assert list(tracker.sample()) == [Region(42, 0x1000, 0x3000, 2.0, "pages written", written=True)]
        raise RuntimeError("the caller failed")
    assert Written.calls == ["start", "sample", "stop"]
    with pytest.raises(InvalidInputError, match="unknown options: depth"):
        registry.get("written")(KERNEL, [42], {"depth": "3"})


def test_region_is_half_open_with_a_heat_that_is_not_negative() -> None:
    region = Region(1, 0x1000, 0x2000, 0.0, "accesses", accessing_nodes={0: 0.0})
    assert region.size == 0x1000 and region.written is None
    for start, end in ((0x2000, 0x2000), (0x2000, 0x1000), (-1, 0x1000)):
        with pytest.raises(InvalidInputError, match=r"\[start, end\)"):
            Region(1, start, end, 1.0, "accesses")
    with pytest.raises(InvalidInputError, match="heat is not negative"):
        Region(1, 0x1000, 0x2000, -1.0, "accesses")


def test_numamove_registry_lists_its_trackers() -> None:
    assert names() == REGISTRY.names() == ["damon", "idlepage", "numafaults", "softdirty", "threads"]
    assert set(available(KERNEL)) == set(names())
    with pytest.raises(InvalidInputError, match=r"the trackers: .*damon"):
        get("no-such-tracker")


class Unreadable(Written):
    info: ClassVar[TrackerInfo] = TrackerInfo("unreadable", "nothing", "everything", "an OSError")

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        raise PermissionError(13, "Permission denied", "/proc/config.gz")


def test_a_probe_that_raises_oserror_makes_its_tracker_unavailable_with_the_reason() -> None:
    registry = TrackerRegistry()
    registry.register("unreadable", Unreadable)
    assert registry.available(KERNEL) == {"unreadable": Availability(
        False, "its probe could not read /proc/config.gz: Permission denied")}


def test_build_makes_the_named_trackers_in_order_or_refuses_before_any_is_made() -> None:
    registry = TrackerRegistry()
    registry.register("written", Written)
    registry.register("broken", Broken)
    built = registry.build(KERNEL, [7], ["written"], {"written": {}})
    assert [type(tracker) for tracker in built] == [Written]
    with pytest.raises(InvalidInputError, match="tracker 'broken' is not available here: cannot read"):
        registry.build(KERNEL, [7], ["written", "broken"])
    with pytest.raises(InvalidInputError, match="no tracker is called 'nosuch'"):
        registry.build(KERNEL, [7], ["written", "nosuch"])
