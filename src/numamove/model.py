"""The data a scan produces: VMAs, their placement, processes, applications. Pure data.

- :class:`Vma`: one mapping, its kind and policy, present base pages per node
  (``pages_by_node``), and optionally :class:`PagePlacement`, each page's node.
- :class:`ProcessMemory`: a process's VMAs and where its threads last ran
  (:class:`ThreadPlacement`); ``method`` says where the nodes came from.
- :class:`Application` and :func:`combine`: several processes counted as one.

Where a page's node comes from: :mod:`numamove.scan` fills these, from
/proc/PID/numa_maps per VMA, or per page from /proc/PID/pagemap with PFNs
mapped to nodes by :mod:`numamove.topology.frames` (method "pagemap"), or
from move_pages(2) queries (method "query").

May import: numpy, :mod:`numamove.units`. No kernel, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from numamove.units import PAGE_SIZE

__all__ = [
    "SPECIAL_MAPPINGS",
    "Application",
    "PagePlacement",
    "ProcessMemory",
    "ThreadPlacement",
    "Vma",
    "VmaKind",
    "combine",
]

SPECIAL_MAPPINGS = ("[vdso]", "[vsyscall]", "[vvar]", "[vvar_vclock]")
"""The kernel's own pages mapped into every process: numa_maps counts none of them and
nothing can move them, so the per-page view skips them too."""


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
    """How placement was read: "numa_maps", "pagemap" (PFNs) or "query" (move_pages(2))."""
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
        method="pagemap" if by_pfn else "query",
    )


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


def _sum_counts(counts: Iterable[dict[int, int]]) -> dict[int, int]:
    total: dict[int, int] = {}
    for one in counts:
        for node, count in one.items():
            total[node] = total.get(node, 0) + count
    return dict(sorted(total.items()))


def _json_counts(counts: dict[int, int]) -> dict[str, int]:
    return {str(node): count for node, count in sorted(counts.items())}

