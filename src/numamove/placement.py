"""The memory of a process: its VMAs, joined with where their pages live.

- The per-VMA view reads /proc/PID/numa_maps (one page-table walk: policy and
  pages per node) joined with /proc/PID/maps (permissions, offset, inode);
  ``detail=True`` adds /proc/PID/smaps (Rss, swap, AnonHugePages, Locked),
  which costs a second walk.
- The per-page view reads /proc/PID/pagemap for the present and swapped bits.
  With CAP_SYS_ADMIN the PFNs are there too and map to nodes through the
  memory blocks of /sys/devices/system/node/nodeN; without them, move_pages(2)
  queries only the present pages.

Pages are counted as base pages: a 2 MiB THP or hugetlb page counts 512.
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import errno
import itertools
import mmap
import queue
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from numamove._format import human_bytes
from numamove._inputs import check_pid, compile_pattern
from numamove._parsers import parse_meminfo
from numamove.errors import InvalidInputError, KernelError, NoSuchProcessError, NotPermittedError
from numamove.kernel import NODE_DIR, Kernel, default_kernel
from numamove.pages import move_pages
from numamove.procfs import (
    PM_PFN_MASK,
    PM_PRESENT,
    PM_SWAP,
    MapsEntry,
    NumaMapsEntry,
    SmapsEntry,
    decode_pagemap,
    parse_maps,
    parse_memory_block_size,
    parse_numa_maps,
    parse_smaps,
    parse_task_stat,
)
from numamove.topology import cpu_nodes

__all__ = [
    "Application",
    "PagePlacement",
    "ProcessMemory",
    "ThreadPlacement",
    "Vma",
    "VmaKind",
    "combine",
    "parse_address_range",
    "scan_application",
    "scan_process",
    "vma_selector",
]

PAGE_SIZE = mmap.PAGESIZE
NOT_PRESENT = -errno.ENOENT
ZERO_PAGE = -errno.EFAULT
# The kernel's own pages mapped into every process: numa_maps counts none of them and
# nothing can move them, so the per-page view skips them too.
_SPECIAL = ("[vdso]", "[vsyscall]", "[vvar]", "[vvar_vclock]")


class VmaKind(str, enum.Enum):
    """What a VMA holds."""

    HEAP = "heap"
    STACK = "stack"
    ANON = "anon"
    FILE = "file"
    SHM = "shm"
    HUGETLB = "hugetlb"
    VDSO = "vdso"
    OTHER = "other"


@dataclass
class PagePlacement:
    """Per base page of a VMA (or of the part asked for): its address and node.

    ``nodes`` holds a node id, -ENOENT for a page not present (never touched,
    or swapped: see ``swapped``), or -EFAULT for the shared zero page.
    With ``present_only`` the arrays hold the present pages alone, in address
    order (what a move needs: memory then follows the resident size, not the
    address space).
    """

    addresses: npt.NDArray[np.uint64]
    nodes: npt.NDArray[np.int32]
    swapped: npt.NDArray[np.bool_]
    pfns: npt.NDArray[np.uint64] | None = None
    present_only: bool = False


@dataclass(slots=True)
class Vma:
    """One mapping of a process and where its pages live."""

    start: int
    end: int
    """Half-open: the VMA covers [start, end)."""
    perms: str
    offset: int
    path: str
    kind: VmaKind
    policy: str
    page_size: int
    """The kernel page size of the mapping (2 MiB for hugetlb), in bytes."""
    pages_by_node: dict[int, int]
    """Present base pages per node."""
    swapped: int | None = None
    """Base pages swapped out (from smaps or pagemap), None when not read."""
    rss: int | None = None
    thp_pages: int | None = None
    """Base pages that are part of transparent huge pages (AnonHugePages)."""
    locked: int | None = None
    dev: str = ""
    inode: int = 0
    gone: bool = False
    """The VMA disappeared while it was being scanned."""
    pages: PagePlacement | None = None
    scanned: tuple[int, int] | None = None
    """The part of the VMA the counts cover, when a range clipped it."""

    @property
    def size_pages(self) -> int:
        low, high = self.scanned or (self.start, self.end)
        return (high - low) // PAGE_SIZE

    @property
    def present(self) -> int:
        return sum(self.pages_by_node.values())

    @property
    def not_present(self) -> int:
        return max(self.size_pages - self.present, 0)

    @property
    def shared(self) -> bool:
        return self.perms[3:4] == "s"

    def to_dict(self, with_pages: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "perms": self.perms,
            "kind": self.kind.value,
            "path": self.path,
            "policy": self.policy,
            "page_size": self.page_size,
            "pages": self.size_pages,
            "pages_by_node": _json_counts(self.pages_by_node),
            "not_present": self.not_present,
            "swapped": self.swapped,
            "thp_pages": self.thp_pages,
            "locked": self.locked,
            "gone": self.gone,
        }
        if self.scanned:
            data["range"] = list(self.scanned)
        if with_pages and self.pages is not None and self.pages.present_only:
            data["present_pages"] = np.stack([self.pages.addresses.astype(np.int64),
                                              self.pages.nodes.astype(np.int64)], axis=1).tolist()
        elif with_pages and self.pages is not None:
            data["page_nodes"] = self.pages.nodes.tolist()
            data["first_page"] = int(self.pages.addresses[0]) if len(self.pages.addresses) else None
        return data


@dataclass(frozen=True)
class ThreadPlacement:
    tid: int
    cpu: int
    node: int | None


@dataclass
class ProcessMemory:
    """A process's VMAs with their placement, and where its threads run."""

    pid: int
    name: str
    vmas: list[Vma]
    threads: list[ThreadPlacement]
    method: str
    """How placement was read: "numa_maps", "pagemap" (PFNs) or "move_pages"."""
    page_size: int = PAGE_SIZE

    @property
    def pages_by_node(self) -> dict[int, int]:
        return _sum_counts(vma.pages_by_node for vma in self.vmas)

    @property
    def present(self) -> int:
        return sum(self.pages_by_node.values())

    @property
    def not_present(self) -> int:
        return sum(vma.not_present for vma in self.vmas)

    @property
    def swapped(self) -> int | None:
        values = [vma.swapped for vma in self.vmas]
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    @property
    def thread_nodes(self) -> frozenset[int]:
        return frozenset(t.node for t in self.threads if t.node is not None)

    @property
    def local_pages(self) -> int:
        return sum(count for node, count in self.pages_by_node.items() if node in self.thread_nodes)

    @property
    def local_share(self) -> float | None:
        """The share of present pages on a node where one of the process's threads last ran."""
        return self.local_pages / self.present if self.present and self.threads else None

    def pages_by_kind(self) -> dict[str, int]:
        """Present base pages per kind; THP pages are their own kind ("thp")."""
        counts: dict[str, int] = {}
        for vma in self.vmas:
            thp = min(vma.thp_pages or 0, vma.present)
            counts[vma.kind.value] = counts.get(vma.kind.value, 0) + vma.present - thp
            if thp:
                counts["thp"] = counts.get("thp", 0) + thp
        return counts

    def to_dict(self, with_pages: bool = False) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "name": self.name,
            "page_size": self.page_size,
            "method": self.method,
            "pages_by_node": _json_counts(self.pages_by_node),
            "pages_by_kind": self.pages_by_kind(),
            "not_present": self.not_present,
            "swapped": self.swapped,
            "local_share": self.local_share,
            "threads": [{"tid": t.tid, "cpu": t.cpu, "node": t.node} for t in self.threads],
            "vmas": [vma.to_dict(with_pages) for vma in self.vmas],
        }


@dataclass
class Application:
    """Several processes seen as one: a shared page counts once, present if any maps it."""

    processes: list[ProcessMemory]
    pages_by_node: dict[int, int]
    shared_pages: int
    """Pages counted once that more than one of the processes maps."""
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pids": [p.pid for p in self.processes],
            "pages_by_node": _json_counts(self.pages_by_node),
            "shared_pages": self.shared_pages,
            "method": self.method,
        }


def vma_selector(text: str) -> Callable[[Vma], bool]:
    """``--vma``: a kind name ("heap", "file", "thp"...) or a regular expression on the path."""
    kinds = {kind.value for kind in VmaKind}
    if text in kinds:
        return lambda vma: vma.kind.value == text
    if text == "thp":
        return lambda vma: bool(vma.thp_pages)
    pattern = compile_pattern(text, "--vma", hint=f" nor a kind ({', '.join(sorted(kinds))})")
    return lambda vma: bool(pattern.search(vma.path))


ADDRESS_LIMIT = 1 << 64  # no virtual address, on any architecture, reaches 2**64
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+", re.ASCII)  # hex or decimal, ASCII digits only
_ADDRESS_DIGITS = 64  # longer than any address below 2**64 needs, even with leading zeros


def parse_address_range(text: str) -> tuple[int, int]:
    """ "0x7f00000000-0x7f00200000" or decimal -> (start, end), half-open and page aligned.

    Both ends are ASCII hex (0x...) or decimal, and the end is at most 2**64.
    """
    low, dash, high = (word.strip() for word in text.strip().partition("-"))
    if not dash or not _ADDRESS.fullmatch(low) or not _ADDRESS.fullmatch(high):
        raise InvalidInputError(
            f"bad range {text!r}: expected START-END in hex (0x...) or decimal ASCII digits, "
            "e.g. 0x7f0000000000-0x7f0000200000"
        )
    if max(len(low), len(high)) > _ADDRESS_DIGITS:  # and int() never meets a 5,000-digit number
        raise InvalidInputError(f"bad range {text[:60]!r}...: addresses stop at 2**64 ({ADDRESS_LIMIT:#x})")
    start, end = (int(word, 16) if word[:2] in ("0x", "0X") else int(word, 10) for word in (low, high))
    if end > ADDRESS_LIMIT:
        raise InvalidInputError(f"bad range {text!r}: addresses stop at 2**64 ({ADDRESS_LIMIT:#x})")
    if start >= end:
        raise InvalidInputError(f"bad range {text!r}: the start must be below the end")
    if start % PAGE_SIZE or end % PAGE_SIZE:
        raise InvalidInputError(f"bad range {text!r}: start and end must be multiples of {PAGE_SIZE}")
    return start, end


def check_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges sorted, refused when they overlap."""
    ordered = sorted(ranges)
    for (a_start, a_end), (b_start, b_end) in itertools.pairwise(ordered):
        if b_start < a_end:
            raise InvalidInputError(f"ranges {a_start:#x}-{a_end:#x} and {b_start:#x}-{b_end:#x} overlap")
    return ordered


def scan_process(
    pid: int,
    *,
    kernel: Kernel | None = None,
    detail: bool = True,
    pages: bool = False,
    policies: bool = True,
    select: Callable[[Vma], bool] | None = None,
    ranges: Sequence[tuple[int, int]] = (),
    method: str = "auto",
    keep_pages: bool | None = None,
    present_only: bool = False,
) -> ProcessMemory:
    """Scan where the memory of ``pid`` lives.

    ``pages`` (or ``ranges``) asks for the exact per-page view; ``method``
    picks "pagemap" (PFNs, needs CAP_SYS_ADMIN), "query" (move_pages) or
    "auto". ``keep_pages`` keeps the per-page arrays on each VMA (default:
    when ``pages`` is set); ``present_only`` keeps the present pages alone,
    so a process that reserves terabytes it never touches costs what it
    holds. ``detail`` reads smaps (Rss, swap, THP, locked).
    ``policies=False`` skips numa_maps in the per-page view, saving its
    page-table walk; the VMAs' policies then read "".
    """
    pid = check_pid(pid)
    kernel = kernel or default_kernel()
    ordered = check_ranges(ranges)
    per_page = pages or bool(ordered)
    name = _read(kernel, pid, "comm").strip()
    numa_entries = (parse_numa_maps(_read(kernel, pid, "numa_maps"))
                    if policies or not per_page else None)
    maps_entries = parse_maps(_read(kernel, pid, "maps"))
    smaps_by_start = ({entry.vma.start: entry for entry in parse_smaps(_read(kernel, pid, "smaps"))}
                      if detail else {})
    if numa_entries is None:
        vmas = [_vma(None, entry, smaps_by_start.get(entry.start), detail) for entry in maps_entries]
    else:
        maps_by_start = {entry.start: entry for entry in maps_entries}
        vmas = [_vma(entry, maps_by_start.get(entry.start), smaps_by_start.get(entry.start), detail)
                for entry in numa_entries]
    if select is not None:
        vmas = [vma for vma in vmas if select(vma)]
    if ordered:
        vmas = _clip(vmas, ordered)

    used = "numa_maps"
    if per_page:
        kept = keep_pages if keep_pages is not None else pages
        used = _per_page(kernel, pid, vmas, method, ("present" if present_only else "all") if kept else "")
    return ProcessMemory(pid=pid, name=name, vmas=vmas, threads=read_threads(pid, kernel), method=used)


def scan_application(pids: Iterable[int], *, kernel: Kernel | None = None, **options: Any) -> Application:
    """Scan several processes and count their pages once each.

    With PFNs (CAP_SYS_ADMIN) a physical page is one page whoever maps it.
    Without them, pages of shared files and shared memory are identified by
    (device, inode, file page), and private anonymous pages count per process.
    """
    kernel = kernel or default_kernel()
    options = {**options, "pages": True, "keep_pages": True}
    processes = []
    for pid in pids:
        try:
            processes.append(scan_process(pid, kernel=kernel, **options))
        except NoSuchProcessError:
            continue  # exited meanwhile: the rest of the application still counts
    if not processes:
        raise NoSuchProcessError(errno.ESRCH, "none of the processes exists any more", "")
    return combine(processes)


def combine(processes: Sequence[ProcessMemory]) -> Application:
    """Processes scanned with per-page data (``keep_pages``), seen as one application."""
    keys: list[npt.NDArray[np.uint64]] = []
    owners: list[npt.NDArray[np.uint64]] = []
    nodes: list[npt.NDArray[np.int32]] = []
    by_pfn = all(p.method == "pagemap" for p in processes)
    for index, process in enumerate(processes):
        for vma in process.vmas:
            if vma.pages is None:
                continue
            present = vma.pages.nodes >= 0
            nodes.append(vma.pages.nodes[present])
            keys.append(_page_keys(vma, present, by_pfn, process.pid))
            owners.append(np.full(int(present.sum()), index, dtype=np.uint64))
    all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.uint64)
    all_nodes = np.concatenate(nodes) if nodes else np.empty(0, dtype=np.int32)
    all_owners = np.concatenate(owners) if owners else np.empty(0, dtype=np.uint64)
    unique_keys, first, inverse = np.unique(all_keys, return_index=True, return_inverse=True)
    # How many distinct processes map each page: more than one makes it shared.
    pairs = np.unique(np.stack([inverse.astype(np.uint64), all_owners]), axis=1)
    mapped_by = np.bincount(pairs[0].astype(np.intp), minlength=len(unique_keys))
    counts = np.bincount(all_nodes[first]) if len(first) else np.empty(0, dtype=np.intp)
    return Application(
        processes=list(processes),
        pages_by_node={node: int(c) for node, c in enumerate(counts) if c},
        shared_pages=int((mapped_by > 1).sum()),
        method="pagemap" if by_pfn else "move_pages",
    )


def read_threads(pid: int, kernel: Kernel) -> list[ThreadPlacement]:
    """Each thread's last CPU (/proc/PID/task/TID/stat, field 39) and that CPU's node."""
    try:
        tids = [int(t) for t in kernel.listdir(f"proc/{pid}/task") if t.isdigit()]
    except OSError:
        return []
    threads = []
    cpu_node = _cpu_nodes(kernel)
    refreshed = False
    for tid in tids:
        try:
            stat = parse_task_stat(kernel.read_text(f"proc/{pid}/task/{tid}/stat"))
        except OSError:
            continue  # the thread exited
        if stat.processor not in cpu_node and not refreshed:
            cpu_node, refreshed = _cpu_nodes(kernel, fresh=True), True  # a CPU that came online since
        threads.append(ThreadPlacement(tid, stat.processor, cpu_node.get(stat.processor)))
    return threads


_KEPT: dict[tuple[str, str], tuple[int, Any]] = {}


def _kept_while_unchanged(kernel: Kernel, directory: str, build: Callable[[Kernel], Any],
                          fresh: bool = False) -> Any:
    """``build(kernel)``, kept while ``directory`` holds the same number of subdirectories.

    Every scan needs the CPU and memory-block maps, and they change only when a
    CPU or a memory block is added or removed, which adds or removes a
    directory under /sys (hotplug: a CXL device coming online, say). Without a
    link count to go by, the map is built each time.
    """
    key = (str(kernel.root), directory)
    try:
        count = kernel.subdirectories(directory)
    except OSError:
        count = -1
    cached = _KEPT.get(key)
    if cached is None or fresh or count < 0 or cached[0] != count:
        cached = _KEPT[key] = (count, build(kernel))
    return cached[1]


def _cpu_nodes(kernel: Kernel, fresh: bool = False) -> dict[int, int]:
    """cpu_nodes(), kept while no CPU is added: a CPU keeps its node while the machine runs."""
    found: dict[int, int] = _kept_while_unchanged(kernel, "sys/devices/system/cpu", cpu_nodes, fresh)
    return found


def node_memory_blocks(kernel: Kernel) -> tuple[int, npt.NDArray[np.int32]]:
    """(pages per memory block, node of each block) from /sys/devices/system/node/nodeN/memoryM."""
    block_pages = parse_memory_block_size(kernel.read_text(f"{MEMORY_DIR}/block_size_bytes")) // PAGE_SIZE
    blocks: list[int] = []
    owners: list[int] = []
    for node in sorted(kernel.online_nodes()):
        # A node directory lists a few hundred entries: one regex pass, not a loop over them.
        found = _MEMORY_ENTRY.findall("\n".join(kernel.listdir(f"{NODE_DIR}/node{node}")))
        blocks += map(int, found)
        owners += [node] * len(found)
    table = np.full(max(blocks, default=-1) + 1, -1, dtype=np.int32)
    table[np.array(blocks, dtype=np.intp)] = owners
    return block_pages, table


MEMORY_DIR = "sys/devices/system/memory"
_MEMORY_ENTRY = re.compile(r"^memory(\d+)$", re.MULTILINE)
def _frame_nodes(kernel: Kernel) -> _FrameNodes:
    """The PFN -> node map of the kernel, kept while its set of memory blocks stays the same."""
    def build(kernel: Kernel) -> _FrameNodes:
        block_pages, block_node = node_memory_blocks(kernel)
        return _FrameNodes.build(block_pages, block_node, _runs(_zero_page_pfns(kernel)))

    frames: _FrameNodes = _kept_while_unchanged(kernel, MEMORY_DIR, build)
    return frames


def _vma(numa: NumaMapsEntry | None, maps: MapsEntry | None, smaps: SmapsEntry | None, detail: bool) -> Vma:
    """One VMA from what was read of it; ``maps`` is None when it vanished between reads."""
    source = maps or (smaps.vma if smaps else None)
    path = source.path if source else (numa.path or "" if numa else "")
    perms = source.perms if source else "----"
    # smaps first: numa_maps omits the page size of a VMA without pages.
    page_size = smaps.kernel_page_size if smaps else (numa.kernel_page_size if numa else PAGE_SIZE)
    vma = Vma(
        start=numa.start if numa else (source.start if source else 0),
        end=source.end if source else (numa.start if numa else 0),
        perms=perms,
        offset=source.offset if source else 0,
        path=path,
        kind=_classify(numa, path, perms, page_size),
        policy=numa.policy if numa else "",
        page_size=page_size,
        pages_by_node=numa.base_pages_by_node(PAGE_SIZE) if numa else {},
        dev=source.dev if source else "",
        inode=source.inode if source else 0,
        gone=source is None,
    )
    if detail and smaps is not None:
        vma.rss = smaps.rss
        vma.swapped = smaps.swap // PAGE_SIZE
        vma.thp_pages = smaps.anon_huge_pages // PAGE_SIZE
        vma.locked = smaps.locked
    return vma


def _classify(numa: NumaMapsEntry | None, path: str, perms: str, page_size: int) -> VmaKind:
    if (numa.huge if numa else page_size > PAGE_SIZE or path.startswith("/anon_hugepage")):
        return VmaKind.HUGETLB
    if (numa is not None and numa.heap) or path == "[heap]":
        return VmaKind.HEAP
    if (numa is not None and numa.stack) or path.startswith("[stack"):
        return VmaKind.STACK
    if path in _SPECIAL:
        return VmaKind.VDSO
    if perms[3:4] == "s" and (not path or path.startswith(("/dev/zero", "/SYSV", "/memfd:", "/dev/shm/"))):
        return VmaKind.SHM
    if not path or path.startswith("[anon"):
        return VmaKind.ANON
    if path.startswith("/"):
        return VmaKind.FILE
    return VmaKind.OTHER


def _clip(vmas: list[Vma], ranges: list[tuple[int, int]]) -> list[Vma]:
    """The VMAs that overlap the ranges, one entry per overlapping part."""
    clipped = []
    for vma in vmas:
        for start, end in ranges:
            low, high = max(start, vma.start), min(end, vma.end)
            if low < high:
                clipped.append(dataclasses.replace(vma, pages_by_node={}, scanned=(low, high)))
    return clipped


_CHUNK = 1 << 16
"""pagemap entries read and counted at a time when per-page arrays are not kept: 512 KiB."""


_SIGN = 1 << 63
_KEPT_BITS = np.uint64(PM_PRESENT | PM_SWAP | PM_PFN_MASK)
_WALK_RUNS = 8
"""Runs of frames counted by comparison per chunk before falling back to a per-frame lookup."""


@dataclass(frozen=True)
class _FrameNodes:
    """PFN -> node, as runs of frames: run i starts at ``starts[i]`` and ends where the next begins.

    All frames of a run belong to ``nodes[i]``, or to none when it is negative:
    ZERO_PAGE for the zero pages, -1 for frame 0, holes and frames past the
    last memory block. A node's memory is a few long runs, so a chunk of
    pagemap is counted with a few vector comparisons, where a per-frame lookup
    and bincount would stall on one counter for every page.
    """

    starts: npt.NDArray[np.int64]
    nodes: npt.NDArray[np.int32]

    @classmethod
    def build(cls, block_pages: int, block_node: npt.NDArray[np.int32],
              zero_ranges: Sequence[tuple[int, int]]) -> _FrameNodes:
        """From the node of each memory block of ``block_pages`` frames and the zero pages' (first, count)."""
        cuts = {0, 1, len(block_node) * block_pages}
        cuts.update(int(block) * block_pages for block in np.flatnonzero(np.diff(block_node)) + 1)
        for first, count in zero_ranges:
            cuts.update((first, first + count))
        starts: list[int] = []
        nodes: list[int] = []
        for start in sorted(cuts):
            block = start // block_pages
            if any(0 <= start - first < count for first, count in zero_ranges):
                node = ZERO_PAGE
            elif start == 0 or block >= len(block_node):
                node = -1  # no user page lives in frame 0 (pagemap's "no PFN")
            else:
                node = int(block_node[block])
            if not nodes or nodes[-1] != node:
                starts.append(start)
                nodes.append(node)
        return cls(np.array(starts, dtype=np.int64), np.array(nodes, dtype=np.int32))

    def lookup(self, pfns: npt.NDArray[np.uint64]) -> npt.NDArray[np.int32]:
        """The node of each PFN; ZERO_PAGE for a zero page, -1 for a frame of no node."""
        runs = np.searchsorted(self.starts, pfns.view(np.int64), "right") - 1
        found: npt.NDArray[np.int32] = self.nodes[runs]
        return found

    def count(self, raw: npt.NDArray[np.uint64], scratch: npt.NDArray[np.uint64],
              per_node: dict[int, int]) -> int:
        """Add the present frames of pagemap entries ``raw`` to ``per_node``; returns the swapped count.

        ``scratch`` is at least as long as ``raw``. Frames of no node are left out.
        """
        if len(raw) == 0:
            return 0
        # As int64 the kept bits order the entries: present frames are negative (PM_PRESENT
        # is the sign bit) and sorted by PFN, swap entries are >= 2**62, untouched pages 0.
        masked = np.bitwise_and(raw, _KEPT_BITS, out=scratch[:len(raw)]).view(np.int64)
        lowest, highest = int(masked.min()), int(masked.max())
        if highest < 0:  # every page present (the common, dense case): the extremes say it all
            swapped, present, top = 0, len(raw), highest + _SIGN
        else:
            swapped = int(np.count_nonzero(masked >= PM_SWAP)) if highest >= PM_SWAP else 0
            if lowest >= 0:
                return swapped
            present, top = int(np.count_nonzero(masked < 0)), None
        starts = self.starts.tolist()
        run = bisect.bisect_right(starts, lowest + _SIGN) - 1
        below = 0  # present frames before the run's start
        for _ in range(_WALK_RUNS):
            last = run + 1 == len(starts)
            if last or (top is not None and top < starts[run + 1]):
                upto = present  # the highest frame is in this run
            else:
                upto = int(np.count_nonzero(masked < starts[run + 1] - _SIGN))
            node = int(self.nodes[run])
            if node >= 0 and upto > below:
                per_node[node] = per_node.get(node, 0) + upto - below
            below = upto
            if below == present:
                return swapped
            run += 1
        # Frames spread over many runs (memory blocks interleaved across nodes): look the rest up.
        later = masked[(masked < 0) & (masked >= starts[run] - _SIGN)]
        found = self.lookup(later.view(np.uint64) & np.uint64(PM_PFN_MASK))
        for node, count in enumerate(np.bincount(found[found >= 0]).tolist()):
            if count:
                per_node[node] = per_node.get(node, 0) + count
        return swapped


def _per_page(kernel: Kernel, pid: int, vmas: list[Vma], method: str, keep: str) -> str:
    """Fill each VMA's pages_by_node and swapped count from pagemap; returns the method used.

    ``keep`` "all" gives each VMA its per-page arrays, "present" arrays of its
    present pages; "" reads and counts pagemap in chunks, so memory stays
    bounded whatever the size of the mappings.
    """
    if method not in ("auto", "pagemap", "query"):
        raise InvalidInputError(f"method must be auto, pagemap or query, not {method!r}")
    privileged = method != "query" and _sees_pfns(kernel)  # a query scan has no use for PFNs
    if method == "pagemap" and not privileged:
        raise NotPermittedError(errno.EPERM, "reading PFNs from pagemap needs CAP_SYS_ADMIN (in the "
                                "initial user namespace); use method 'query' (move_pages) instead", "")
    if keep == "all":
        _check_kept_size(kernel, pid, vmas)
    frames = None
    if method == "pagemap" or (method == "auto" and privileged):
        frames = _frame_nodes(kernel)
    try:
        pagemap = kernel.open(f"proc/{pid}/pagemap")
    except OSError as error:
        raise _process_error(error, pid, "pagemap") from None
    wanted = [vma for vma in vmas if not vma.gone and vma.path not in _SPECIAL]
    with pagemap, _borrow_buffers() as buffers:
        if keep == "all":
            for vma in wanted:
                _scan_pages(kernel, pid, pagemap, vma, frames)
        elif keep == "present":
            for vma in wanted:
                _scan_present(kernel, pid, pagemap, vma, frames, buffers)
        else:
            for batch in _batches(wanted):
                if len(batch) == 1 and len(batch[0]) == 1:
                    _count_pages(kernel, pid, pagemap, batch[0][0], frames, buffers)
                else:
                    _count_batch(kernel, pid, pagemap, batch, frames, buffers)
    return "move_pages" if frames is None else "pagemap"


_KEPT_BYTES_PER_PAGE = 48
"""Peak bytes per page of address space while per-page arrays are built (the arrays kept:
address 8, node 4, swapped 1, PFN 8; the rest is pagemap's entries and their decoding)."""


def _check_kept_size(kernel: Kernel, pid: int, vmas: list[Vma]) -> None:
    """Refuse a per-page view that would take more than a quarter of the memory available.

    The arrays cover every page of a VMA, present or not, and a process may
    reserve terabytes it never touches (a JVM heap, AddressSanitizer's shadow).
    """
    spans = [(_span(vma), vma) for vma in vmas if not vma.gone and vma.path not in _SPECIAL]
    pages = sum(end - first for (first, end), _ in spans)
    try:
        available = parse_meminfo(kernel.read_text("proc/meminfo")).get("MemAvailable")
    except OSError:
        available = None
    if not spans or available is None or pages * _KEPT_BYTES_PER_PAGE <= available // 4:
        return
    (first, end), largest = max(spans, key=lambda item: item[0][1] - item[0][0])
    raise InvalidInputError(
        f"the per-page view of pid {pid} covers {human_bytes(pages * PAGE_SIZE)} of address space and would "
        f"need {human_bytes(pages * _KEPT_BYTES_PER_PAGE)}, over a quarter of the "
        f"{human_bytes(available)} available (the largest VMA: {first * PAGE_SIZE:#x}-{end * PAGE_SIZE:#x} "
        f"{largest.path or largest.kind.value}); narrow it with --range or --vma")


@dataclass(frozen=True)
class _Buffers:
    """Per-chunk arrays of the counting scan, _CHUNK entries each."""

    entries: npt.NDArray[np.uint64]
    scratch: npt.NDArray[np.uint64]
    present: npt.NDArray[np.bool_]
    status: npt.NDArray[np.int32]


_IDLE_BUFFERS: queue.SimpleQueue[_Buffers] = queue.SimpleQueue()
_PAGE_OFFSETS = np.arange(_CHUNK, dtype=np.uint64) * np.uint64(PAGE_SIZE)
"""The byte offset of each page of a chunk, to pick present pages' addresses from."""


@contextmanager
def _borrow_buffers() -> Iterator[_Buffers]:
    """Buffers kept from one scan to the next (per thread at a time): fresh 512 KiB arrays
    cost a page fault per 4 KiB each time, which is a tenth of a whole scan's time."""
    try:
        buffers = _IDLE_BUFFERS.get_nowait()
    except queue.Empty:
        buffers = _Buffers(np.empty(_CHUNK, dtype=np.uint64), np.empty(_CHUNK, dtype=np.uint64),
                           np.empty(_CHUNK, dtype=np.bool_), np.empty(_CHUNK, dtype=np.int32))
    try:
        yield buffers
    finally:
        _IDLE_BUFFERS.put(buffers)


_NEAR = 256
"""VMAs at most this many pages apart are read from pagemap in one call, the gap too."""


def _span(vma: Vma) -> tuple[int, int]:
    """The VMA's first page and its end page (exclusive), as page numbers."""
    low, high = vma.scanned or (vma.start, vma.end)
    return low // PAGE_SIZE, high // PAGE_SIZE


_ALONE = 4096
"""A VMA of more pages than this is counted on its own, chunk by chunk, by PFN runs."""


def _batches(vmas: list[Vma]) -> list[list[list[Vma]]]:
    """The VMAs as batches of runs: each run is VMAs close together, read from pagemap in one
    call; each batch is runs of at most one chunk of pages in all, counted in one pass.

    A process has hundreds of small VMAs (each library maps four or five): a read
    per run and one numpy pass per batch cost far less than a pass per VMA. A
    large VMA forms a batch of its own.
    """
    batches: list[list[list[Vma]]] = []
    filled = _CHUNK  # pages in the last batch; full: the next VMA opens a new one
    for vma in vmas:
        first, end = _span(vma)
        if end - first > _ALONE:
            batches.append([[vma]])
            filled = _CHUNK
            continue
        run_end = _span(batches[-1][-1][-1])[1] if filled < _CHUNK else 0
        if filled < _CHUNK and 0 <= first - run_end <= _NEAR and filled + end - run_end <= _CHUNK:
            batches[-1][-1].append(vma)  # read with the run before it, the gap too
            filled += end - run_end
        elif filled + end - first <= _CHUNK:
            batches[-1].append([vma])
            filled += end - first
        else:
            batches.append([[vma]])
            filled = end - first
    return batches


def _count_batch(kernel: Kernel, pid: int, pagemap: BinaryIO, runs: list[list[Vma]],
                 frames: _FrameNodes | None, buffers: _Buffers) -> None:
    """Count the pages of a batch of small VMAs per node: a read per run, one pass for all."""
    vmas: list[Vma] = []
    owners: list[int] = []  # each buffer entry's VMA, as (owner, length) pairs for np.repeat
    lengths: list[int] = []
    reads: list[tuple[int, int]] = []  # (first page, pages) of each run read
    broken: list[Vma] = []
    offset = 0
    for run in runs:
        first, end = _span(run[0])[0], _span(run[-1])[1]
        got = kernel.read_into(pagemap, buffers.entries[offset:offset + end - first], first * 8) // 8
        if got < end - first:  # something was unmapped meanwhile: count VMA by VMA to tell which
            broken += run
            continue
        at = first
        for vma in run:
            low, high = _span(vma)
            # Pages between the VMAs of a run go to a bin of their own (-1, set below): a VMA
            # mapped into a gap meanwhile is not ours.
            owners += (-1, len(vmas))
            lengths += (low - at, high - low)
            vmas.append(vma)
            at = high
        reads.append((first, end - first))
        offset += end - first
    if vmas:
        _count_entries(kernel, pid, buffers.entries[:offset], vmas, owners, lengths, reads, frames)
    for vma in broken:
        _count_pages(kernel, pid, pagemap, vma, frames, buffers)


def _count_entries(kernel: Kernel, pid: int, raw: npt.NDArray[np.uint64], vmas: list[Vma], owners: list[int],
                   lengths: list[int], reads: list[tuple[int, int]], frames: _FrameNodes | None) -> None:
    """Set each VMA's counts from pagemap entries ``raw``, whose owners are run-length coded."""
    bins = len(vmas) + 1
    owner = np.repeat(np.array([bins - 1 if o < 0 else o for o in owners], dtype=np.intp), lengths)
    entries = raw.view(np.int64)
    swapped = (np.bincount(owner[entries >= PM_SWAP], minlength=bins) if int(entries.max()) >= PM_SWAP
               else np.zeros(bins, dtype=np.intp))
    present = np.flatnonzero(entries < 0)
    if frames is not None:
        nodes = frames.lookup(raw[present] & np.uint64(PM_PFN_MASK))
    else:
        pages = np.concatenate([np.arange(first, first + count, dtype=np.uint64) for first, count in reads])
        nodes = _query(kernel, pid, pages[present] * np.uint64(PAGE_SIZE))
    lowest = int(nodes.min()) if len(nodes) else -1
    if lowest == int(nodes.max(initial=-1)):  # one node for all (the usual case), or none counted
        per_vma = np.bincount(owner[present], minlength=bins) if lowest >= 0 else np.zeros(bins, np.intp)
        rows = [{lowest: count} if count else {} for count in per_vma.tolist()]
    else:
        counted = nodes >= 0
        nodes = nodes[counted].astype(np.intp)
        width = int(nodes.max()) + 1 if len(nodes) else 1
        table = np.bincount(owner[present[counted]] * width + nodes, minlength=bins * width)
        rows = [{node: count for node, count in enumerate(row) if count}
                for row in table.reshape(bins, width).tolist()]
    for vma, row, swaps in zip(vmas, rows, swapped.tolist(), strict=False):  # the last bin: gaps
        vma.pages_by_node = row
        vma.swapped = swaps


def _read_entries(kernel: Kernel, pagemap: BinaryIO, vma: Vma, first_page: int,
                  raw: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """pagemap entries from ``first_page`` on into ``raw``; fewer when the VMA went away."""
    got = kernel.read_into(pagemap, raw, first_page * 8)
    if got < raw.nbytes:
        vma.gone = True  # unmapped while we read
    return raw[:got // 8]


def _count_pages(kernel: Kernel, pid: int, pagemap: BinaryIO, vma: Vma, frames: _FrameNodes | None,
                 buffers: _Buffers) -> None:
    low, high = vma.scanned or (vma.start, vma.end)
    first, total = low // PAGE_SIZE, (high - low) // PAGE_SIZE
    per_node: dict[int, int] = {}
    swapped = 0
    for offset in range(0, total, _CHUNK):
        size = min(_CHUNK, total - offset)
        raw = _read_entries(kernel, pagemap, vma, first + offset, buffers.entries[:size])
        if frames is not None:
            swapped += frames.count(raw, buffers.scratch, per_node)
        else:
            entries = raw.view(np.int64)
            swapped += _swapped(entries)
            present = np.less(entries, 0, out=buffers.present[:len(raw)])
            count = int(np.count_nonzero(present))
            addresses = buffers.scratch[:count]
            if count == len(raw):  # all present: no selection, whose index array would cost page faults
                np.copyto(addresses, _PAGE_OFFSETS[:count])
            else:
                np.compress(present, _PAGE_OFFSETS[:len(raw)], out=addresses)
            np.add(addresses, np.uint64(low + offset * PAGE_SIZE), out=addresses)
            _add_counts(_query(kernel, pid, addresses, buffers.status[:len(addresses)]), per_node)
        if vma.gone:
            break
    vma.pages_by_node = dict(sorted(per_node.items()))
    vma.swapped = int(swapped)


def _swapped(entries: npt.NDArray[np.int64]) -> int:
    """How many pagemap entries (as int64) are swap entries: PM_SWAP set, PM_PRESENT (the sign) not.

    One reduction answers for the usual chunk, which has none.
    """
    if len(entries) == 0 or int(entries.max()) < PM_SWAP:
        return 0
    return int(np.count_nonzero(entries >= PM_SWAP))


def _add_counts(statuses: npt.NDArray[np.int32], per_node: dict[int, int]) -> None:
    """Add how many of ``statuses`` name each node to ``per_node``.

    Comparisons per node, not bincount: a chunk's pages are mostly on one node,
    and bincount then stalls on a single counter for each page.
    """
    if len(statuses) == 0:
        return
    lowest, high = int(statuses.min()), int(statuses.max())
    if high < 0:
        return
    low = max(lowest, 0)
    counts: Iterable[tuple[int, int]]
    if high - low >= 8:
        counts = enumerate(np.bincount(statuses[statuses >= 0]).tolist())
    elif lowest == high:
        counts = [(high, len(statuses))]
    else:
        counts = [(node, int(np.count_nonzero(statuses == node))) for node in range(low, high + 1)]
    for node, count in counts:
        if count:
            per_node[node] = per_node.get(node, 0) + count


def _scan_pages(kernel: Kernel, pid: int, pagemap: BinaryIO, vma: Vma, frames: _FrameNodes | None) -> None:
    low, high = vma.scanned or (vma.start, vma.end)
    raw = _read_entries(kernel, pagemap, vma, low // PAGE_SIZE,
                        np.empty((high - low) // PAGE_SIZE, dtype=np.uint64))
    entries = decode_pagemap(raw)
    addresses = np.uint64(low) + np.arange(len(raw), dtype=np.uint64) * np.uint64(PAGE_SIZE)
    nodes = np.full(len(raw), NOT_PRESENT, dtype=np.int32)
    if frames is not None:
        nodes[entries.present] = frames.lookup(entries.pfn[entries.present])
    elif entries.present.any():
        nodes[entries.present] = _query(kernel, pid, addresses[entries.present])
    counts = np.bincount(nodes[nodes >= 0]) if (nodes >= 0).any() else np.empty(0, np.intp)
    vma.pages_by_node = {node: int(c) for node, c in enumerate(counts) if c}
    vma.swapped = int(entries.swapped.sum())
    vma.pages = PagePlacement(addresses, nodes, entries.swapped, entries.pfn if frames else None)


def _scan_present(kernel: Kernel, pid: int, pagemap: BinaryIO, vma: Vma, frames: _FrameNodes | None,
                  buffers: _Buffers) -> None:
    """The present pages of ``vma`` with their nodes (and PFNs), read chunk by chunk."""
    low, high = vma.scanned or (vma.start, vma.end)
    first, total = low // PAGE_SIZE, (high - low) // PAGE_SIZE
    addresses: list[npt.NDArray[np.uint64]] = []
    pfns: list[npt.NDArray[np.uint64]] = []
    swapped = 0
    for offset in range(0, total, _CHUNK):
        size = min(_CHUNK, total - offset)
        raw = _read_entries(kernel, pagemap, vma, first + offset, buffers.entries[:size])
        entries = raw.view(np.int64)
        swapped += _swapped(entries)
        present = np.less(entries, 0, out=buffers.present[:len(raw)])
        addresses.append(_PAGE_OFFSETS[:len(raw)][present] + np.uint64(low + offset * PAGE_SIZE))
        if frames is not None:
            pfns.append(raw[present] & np.uint64(PM_PFN_MASK))
        if vma.gone:
            break
    where = np.concatenate(addresses) if addresses else np.empty(0, dtype=np.uint64)
    frame_numbers = None
    if frames is not None:
        frame_numbers = np.concatenate(pfns) if pfns else np.empty(0, dtype=np.uint64)
    if frame_numbers is not None and frames is not None:
        nodes = frames.lookup(frame_numbers)
    else:
        nodes = _query(kernel, pid, where) if len(where) else np.empty(0, dtype=np.int32)
    per_node: dict[int, int] = {}
    _add_counts(nodes, per_node)
    vma.pages_by_node = dict(sorted(per_node.items()))
    vma.swapped = swapped
    vma.pages = PagePlacement(where, nodes, np.zeros(len(where), dtype=np.bool_), frame_numbers,
                              present_only=True)


def _query(kernel: Kernel, pid: int, addresses: npt.NDArray[np.uint64],
           out: npt.NDArray[np.int32] | None = None) -> npt.NDArray[np.int32]:
    """move_pages(2) statuses of present pages; a vanished process is the caller's to report."""
    try:
        return move_pages(pid, addresses, kernel=kernel, out=out)
    except NoSuchProcessError:
        raise
    except KernelError as error:
        raise _process_error(error, pid, "move_pages") from None


def _runs(pfns: npt.NDArray[np.uint64]) -> tuple[tuple[int, int], ...]:
    """Sorted PFNs -> (first, count) of each run of consecutive frames."""
    if len(pfns) == 0:
        return ()
    breaks = np.flatnonzero(np.diff(pfns.astype(np.int64)) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(pfns)]])
    return tuple((int(pfns[a]), int(b - a)) for a, b in zip(starts, ends, strict=True))


def _page_keys(vma: Vma, present: npt.NDArray[np.bool_], by_pfn: bool, pid: int) -> npt.NDArray[np.uint64]:
    """An identity for each present page of ``vma``, equal across processes for the same page."""
    assert vma.pages is not None
    if by_pfn and vma.pages.pfns is not None:
        return vma.pages.pfns[present]
    index = (vma.pages.addresses[present] - np.uint64(vma.start)) // np.uint64(PAGE_SIZE)
    if vma.shared or vma.kind in (VmaKind.FILE, VmaKind.SHM, VmaKind.HUGETLB):
        # (device, inode, page within the file), folded into 64 bits; the top bit marks the kind.
        file_key = (hash((vma.dev, vma.inode)) & 0x3FFF_FFFF) << 32
        return (np.uint64(1 << 63) | np.uint64(file_key)) + np.uint64(vma.offset // PAGE_SIZE) + index
    return (np.uint64((pid & 0x3FFFFF) << 40)) + vma.pages.addresses[present] // np.uint64(PAGE_SIZE)


_PROBE = np.zeros(2 * PAGE_SIZE // 8, dtype=np.uint64)
"""Memory of our own, for asking pagemap whether it shows us PFNs."""


def _sees_pfns(kernel: Kernel) -> bool:
    """Whether pagemap shows this process real PFNs, asked of pagemap itself.

    The kernel shows them to a reader with CAP_SYS_ADMIN in the initial user
    namespace: a container's root has the capability in its own namespace but
    gets zeros, so the capability sets in /proc/self/status cannot tell.
    """
    _PROBE[:] = 1  # written: both pages are present
    page = (_PROBE.ctypes.data + PAGE_SIZE - 1) // PAGE_SIZE  # the first page wholly inside
    entry = np.zeros(1, dtype=np.uint64)
    try:
        with kernel.open("proc/self/pagemap") as own:
            kernel.read_into(own, entry, page * 8)
    except OSError:
        return False
    return bool(entry[0] & np.uint64(PM_PRESENT)) and bool(entry[0] & np.uint64(PM_PFN_MASK))


_ZERO_PFNS: dict[str, npt.NDArray[np.uint64]] = {}


def _zero_page_pfns(kernel: Kernel) -> npt.NDArray[np.uint64]:
    """The PFNs of the shared zero page and the huge zero page, read from pages of our own.

    pagemap shows a read-faulted page as present on the zero page, but that is
    no node's memory: move_pages(2) says -EFAULT and numa_maps skips it, so the
    PFN view must too. A read of a 2 MiB-aligned THP-eligible block maps the
    huge zero page (when THP's use_zero_page is on); a one-page mapping can
    only get the 4 KiB one.
    """
    key = str(kernel.root)
    if key not in _ZERO_PFNS:
        huge = 2 << 20
        found = [np.empty(0, dtype=np.uint64)]
        for length in (PAGE_SIZE, 2 * huge):
            probe = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
            try:
                base = np.frombuffer(probe, dtype=np.uint8).ctypes.data
                first = -base % huge if length > PAGE_SIZE else 0  # the 2 MiB-aligned block
                if length > PAGE_SIZE and hasattr(mmap, "MADV_HUGEPAGE"):
                    probe.madvise(mmap.MADV_HUGEPAGE, first, huge)
                _ = probe[first]  # a read fault maps a zero page
                entries = np.zeros(length // PAGE_SIZE, dtype=np.uint64)
                with kernel.open("proc/self/pagemap") as own:
                    kernel.read_into(own, entries, base // PAGE_SIZE * 8)
                decoded = decode_pagemap(entries)
                found.append(decoded.pfn[decoded.present])
            finally:
                probe.close()
        _ZERO_PFNS[key] = np.unique(np.concatenate(found))
    return _ZERO_PFNS[key]


def _read(kernel: Kernel, pid: int, name: str) -> str:
    try:
        return kernel.read_text(f"proc/{pid}/{name}")
    except OSError as error:
        raise _process_error(error, pid, name) from None


def _process_error(error: OSError, pid: int, what: str) -> KernelError:
    if isinstance(error, KernelError):
        return error
    if error.errno in (errno.ENOENT, errno.ESRCH):
        return NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid}", "")
    if error.errno in (errno.EACCES, errno.EPERM):
        return NotPermittedError(errno.EPERM, f"cannot read the memory of pid {pid}: another user's process "
                                 "needs root or CAP_SYS_PTRACE", "")
    return KernelError(error.errno or errno.EIO, f"cannot read /proc/{pid}/{what}: {error.strerror}", "")


def _sum_counts(counts: Iterable[dict[int, int]]) -> dict[int, int]:
    total: dict[int, int] = {}
    for one in counts:
        for node, count in one.items():
            total[node] = total.get(node, 0) + count
    return dict(sorted(total.items()))


def _json_counts(counts: dict[int, int]) -> dict[str, int]:
    return {str(node): count for node, count in sorted(counts.items())}

