"""Live tests: real pages on a real multi-node kernel, inside the test VM.

They run only in the guest that vmtest/run.py boots (NUMAMOVE_IN_VM=1). A
missing node layout fails the run instead of skipping it: a live suite that
did not run must never look like one that passed.
"""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
import subprocess
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

import numamove

PAGE_SIZE = mmap.PAGESIZE

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("NUMAMOVE_IN_VM") != "1":
        raise pytest.UsageError("tests/live runs inside the test VM: python3 vmtest/run.py -- ...")
    with open("/proc/uptime") as uptime:
        seconds = float(uptime.read().split()[0])
    print(f"\nguest: Linux {os.uname().release}, {seconds:.1f} s since boot at the first live test")


@dataclass(frozen=True)
class Layout:
    """The guest's nodes: two with CPUs, one with memory only."""

    cpu_nodes: tuple[int, ...]
    memory_only: int
    online: frozenset[int]

    @property
    def all_memory(self) -> tuple[int, ...]:
        return (*self.cpu_nodes, self.memory_only)


# The kernel moves pages behind the tests' backs: automatic NUMA balancing (a forked
# child's inherited pages follow the parent's hinting faults; scripts/test also boots
# with numa_balancing=disable, since PTEs marked before a switch-off still migrate) and
# khugepaged (collapsing an idle process's heap into a new THP moves those pages).
QUIET = {
    "/proc/sys/kernel/numa_balancing": "0",
    "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs": "3600000",
}


@pytest.fixture(scope="session", autouse=True)
def placement_stays_still() -> Iterator[None]:
    """Keep the kernel from moving pages while the tests compare placements."""
    saved = {}
    for path, value in QUIET.items():
        with open(path) as file:
            saved[path] = file.read()
        with open(path, "w") as file:
            file.write(value)
    yield
    for path, value in saved.items():
        with open(path, "w") as file:
            file.write(value)


@pytest.fixture(scope="session")
def layout() -> Layout:
    topology = numamove.read_topology()
    cpu_nodes = tuple(n.id for n in topology.nodes if n.has_cpu and n.has_memory)
    memory_only = [n.id for n in topology.nodes if n.memory_only]
    if len(cpu_nodes) < 2 or not memory_only:
        pytest.fail(f"the guest needs 2 CPU nodes and a memory-only node, got {topology.nodes}")
    return Layout(cpu_nodes, memory_only[0], frozenset(n.id for n in topology.nodes))


class Region:
    """An anonymous mapping filled with a pattern, with its page addresses and checksum."""

    def __init__(self, pages: int, shared: bool = False, fill: bool = True) -> None:
        self.pages = pages
        self.buffer = mmap.mmap(-1, pages * PAGE_SIZE, flags=mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE)
        self.bytes = np.frombuffer(self.buffer, dtype=np.uint8)
        self.base = int(self.bytes.ctypes.data)
        self.addresses: npt.NDArray[np.uint64] = (
            self.base + np.arange(pages, dtype=np.uint64) * np.uint64(PAGE_SIZE)
        )
        if fill:
            self.fill()

    def fill(self) -> None:
        """Write a pattern that differs per page (touches every page)."""
        words = self.bytes.view(np.uint64)
        words[:] = np.arange(len(words), dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        self.digest = self.checksum()

    def checksum(self) -> str:
        return hashlib.blake2b(self.bytes.tobytes()).hexdigest()

    def intact(self) -> bool:
        return self.checksum() == self.digest

    def where(self) -> npt.NDArray[np.int32]:
        return numamove.move_pages(0, self.addresses)

    def close(self) -> None:
        del self.bytes
        self.buffer.close()


@pytest.fixture
def region() -> Iterator[Callable[..., Region]]:
    """Make Regions; they are unmapped after the test."""
    made: list[Region] = []

    def make(pages: int, shared: bool = False, fill: bool = True) -> Region:
        made.append(Region(pages, shared, fill))
        return made[-1]

    yield make
    for r in made:
        r.close()


def raw_mmap(length: int, prot: int = mmap.PROT_READ | mmap.PROT_WRITE,
             flags: int = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) -> int:
    """An anonymous mapping made with libc, so part of it can be unmapped (or flags set)."""
    address = _libc.mmap(None, length, prot, flags, -1, 0)
    assert address not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
    return int(address)


def raw_munmap(address: int, length: int) -> None:
    assert _libc.munmap(address, length) == 0, os.strerror(ctypes.get_errno())


def kernel_release() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int(minor)


class Channel:
    """One end of a pair of pipes between a test and a process it forked; line-based."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.reader = os.fdopen(read_fd, "r")
        self.writer = os.fdopen(write_fd, "w", buffering=1)

    def send(self, text: str = "") -> None:
        self.writer.write(text + "\n")

    def receive(self) -> str:
        """The next line; "" once the other end has closed."""
        return self.reader.readline().rstrip("\n")

    def close(self) -> None:
        self.writer.close()
        self.reader.close()


class ForkedChild(Channel):
    pid: int


@contextmanager
def forked(body: Callable[[Channel], object]) -> Iterator[ForkedChild]:
    """Run ``body`` in a forked child; the test talks to it through the yielded channel.

    Leaving the block closes the pipes (the child's ``receive()`` then returns "")
    and reaps the child, which must have exited 0.
    """
    to_child = os.pipe()
    to_parent = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(to_child[1])
            os.close(to_parent[0])
            body(Channel(to_child[0], to_parent[1]))
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(to_child[0])
    os.close(to_parent[1])
    child = ForkedChild(to_parent[0], to_child[1])
    child.pid = pid
    try:
        yield child
    finally:
        child.close()
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"child {pid} failed"


@dataclass(frozen=True)
class HotSet:
    """A running hotset_child.py: 16 MiB written again and again by a thread on ``node``, 64 MiB once."""

    pid: int
    thread: int
    hot: tuple[int, int]
    cold: tuple[int, int]
    node: int


@contextmanager
def hot_set_workload(layout: Layout, node_index: int = 1) -> Iterator[HotSet]:
    """Run the hot-set workload, its hammering thread on ``layout.cpu_nodes[node_index]``; stop it after."""
    import json
    import sys

    node = layout.cpu_nodes[node_index]
    on_node = ",".join(str(cpu) for cpu in sorted(numamove.read_topology().node(node).cpus))
    script = os.path.join(os.path.dirname(__file__), "hotset_child.py")
    child = subprocess.Popen([sys.executable, script, on_node],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        facts = json.loads(child.stdout.readline())
        yield HotSet(pid=facts["pid"], thread=facts["thread"], hot=tuple(facts["hot"]),
                     cold=tuple(facts["cold"]), node=node)
    finally:
        end_child(child)


def end_child(child: subprocess.Popen[str], timeout: float = 30) -> None:
    """Close a workload child's stdin (its signal to stop) and wait; kill it if it does not end."""
    if child.poll() is None:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def other_cpus(node: int) -> set[int]:
    """The CPUs of every node but ``node``: where a sampler runs so that it does not take the CPU of
    a workload's thread pinned to ``node`` (on two emulated vCPUs, sharing one halves the thread)."""
    topology = numamove.read_topology()
    return {cpu for other in topology.nodes if other.id != node for cpu in other.cpus}


@contextmanager
def pinned_to(cpus: set[int]) -> Iterator[None]:
    """Run the calling thread on ``cpus`` inside the block."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
