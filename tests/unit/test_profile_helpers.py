"""Shared by the profile tests (no tests here): a captured process on a fixture tree, fake trackers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.kernel import Kernel
from numamove.procfs import PM_PRESENT
from numamove.trackers import Region, TrackerInfo

from .conftest import FIXTURES
from .fakes import FakeSyscalls

START = 0x7F00_0000_0000
PAGE = 4096
PID = 9


def stat_line(pid: int, start: int, name: str = "worker", cpu: int = 0) -> str:
    """/proc/PID/stat with ``start`` (field 22) and ``cpu`` (field 39); the rest zeros."""
    fields = ["S", *["0"] * 49]
    fields[19] = str(start)
    fields[36] = str(cpu)
    return f"{pid} ({name}) {' '.join(fields)}\n"


def make_process(root: Path, pid: int = PID, *, pages: int = 8, present: Sequence[int] = (0, 1, 2, 3, 6),
                 start_ticks: int = 1000, extra_vma: bool = False) -> None:
    """The guest's sysfs, and ``pid`` with one anonymous VMA of ``pages`` pages at START (frames
    0x1000 + page), those in ``present`` present; numa_maps counts them on node 1."""
    if not (root / "sys").exists():
        shutil.copytree(FIXTURES / "qemu-3node-hmat" / "sys", root / "sys")
        shutil.copytree(FIXTURES / "qemu-3node-hmat" / "proc", root / "proc", dirs_exist_ok=True)
        (root / "proc" / "sys" / "kernel" / "osrelease").write_text("6.12.0-test\n")
    proc = root / "proc" / str(pid)
    (proc / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
    (proc / "comm").write_text("worker\n")
    (proc / "stat").write_text(stat_line(pid, start_ticks))
    (proc / "task" / str(pid) / "stat").write_text(stat_line(pid, start_ticks, cpu=1))
    end = START + pages * PAGE
    maps = f"{START:x}-{end:x} rw-p 00000000 00:00 0 \n"
    count = len(present)
    numa = f"{START:x} default anon={count} dirty={count} N1={count} kernelpagesize_kB=4\n"
    if extra_vma:
        maps += f"{end + PAGE:x}-{end + 2 * PAGE:x} rw-p 00000000 00:00 0 \n"
        numa += f"{end + PAGE:x} default\n"
    (proc / "maps").write_text(maps)
    (proc / "numa_maps").write_text(numa)
    entries = np.zeros(pages, dtype=np.uint64)
    for page in present:
        entries[page] = PM_PRESENT | (0x1000 + page)
    with open(proc / "pagemap", "wb") as file:
        file.seek(START // PAGE * 8)
        file.write(entries.tobytes())


def query_kernel(root: Path, nodes: Mapping[int, int] | None = None) -> Kernel:
    """A kernel on ``root`` whose move_pages answers page i of START with ``nodes[i]`` (default: node 1)."""
    placement = {START + page * PAGE: node for page, node in (nodes or dict.fromkeys(range(64), 1)).items()}
    return Kernel(root, syscalls=FakeSyscalls(placement=placement))


class FakeTracker:
    """A tracker that reports what ``script`` says, one list of regions per sample, and logs its calls."""

    info: ClassVar[TrackerInfo] = TrackerInfo("fake", "writes per page", "reads", "nothing",
                                              {"level": "a made-up option"})
    script: ClassVar[list[list[Region]]] = []
    calls: ClassVar[list[str]] = []

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        if set(options) - {"level"}:
            raise InvalidInputError(f"tracker fake has no option {sorted(set(options) - {'level'})[0]!r}")
        self.kernel, self.pids, self.samples = kernel, list(pids), 0

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        return None

    def start(self) -> None:
        self.calls.append("start")

    def sample(self) -> Iterator[Region]:
        self.calls.append("sample")
        if not self.kernel.exists(f"proc/{self.pids[0]}"):
            raise NoSuchProcessError(3, f"no such process: pid {self.pids[0]}", "")
        regions = self.script[min(self.samples, len(self.script) - 1)] if self.script else [
            Region(self.pids[0], START, START + 4 * PAGE, 3.0, "writes", written=True)]
        self.samples += 1
        return iter(regions)

    def stop(self) -> None:
        self.calls.append("stop")


class Unavailable(FakeTracker):
    info: ClassVar[TrackerInfo] = TrackerInfo("gone", "nothing", "everything", "nothing")

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        return "DAMON is absent: /sys/kernel/mm/damon/admin does not exist"
