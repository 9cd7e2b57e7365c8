"""The scan of one process: its VMAs joined with where their pages live.

- The per-VMA view reads /proc/PID/numa_maps (one page-table walk: policy and
  pages per node) joined with /proc/PID/maps (permissions, offset, inode);
  ``detail`` adds /proc/PID/smaps (Rss, swap, AnonHugePages, Locked), which
  costs a second walk.
- The per-page view (``pages`` or ``ranges``) reads /proc/PID/pagemap
  (:mod:`.placement`): PFNs mapped to nodes through the memory blocks, or
  move_pages(2) queries.
- Threads: /proc/PID/task/TID/stat (the CPU each last ran on) and the CPU -> node map.

Pages are counted as base pages: a 2 MiB THP or hugetlb page counts 512.
May import: :mod:`numamove.kernel`, :mod:`numamove.procfs`, :mod:`numamove.topology`,
:mod:`numamove.model`, :mod:`numamove.units`, :mod:`.placement`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from numamove._inputs import check_pid
from numamove.errors import InvalidInputError
from numamove.kernel import DEFAULT, Kernel, process_errors, takes_kernel_or_default
from numamove.model import SPECIAL_MAPPINGS, ProcessMemory, ThreadPlacement, Vma, VmaKind
from numamove.procfs import MapsEntry, NumaMapsEntry, SmapsEntry, parse_maps, parse_numa_maps, parse_smaps
from numamove.procfs.stat import parse_task_stat
from numamove.scan.placement import place_pages
from numamove.topology import cpu_node_map
from numamove.units import PAGE_SIZE

__all__ = ["ScanOptions", "check_ranges", "read_threads", "scan", "scan_process"]


@dataclass(frozen=True)
class ScanOptions:
    """What a process scan reads and keeps.

    ``pages`` (or ``ranges``) asks for the exact per-page view; ``method``
    picks "pagemap" (PFNs, needs CAP_SYS_ADMIN), "query" (move_pages) or
    "auto". ``keep_pages`` keeps the per-page arrays on each VMA (default:
    when ``pages`` is set); ``present_only`` keeps the present pages alone,
    so a process that reserves terabytes it never touches costs what it
    holds. ``detail`` reads smaps (Rss, swap, THP, locked).
    ``policies=False`` skips numa_maps in the per-page view, saving its
    page-table walk; the VMAs' policies then read "". ``select`` keeps the
    VMAs it returns True for; ``ranges`` (sorted, not overlapping) clips them.
    """

    detail: bool = True
    pages: bool = False
    policies: bool = True
    select: Callable[[Vma], bool] | None = None
    ranges: Sequence[tuple[int, int]] = ()
    method: str = "auto"
    keep_pages: bool | None = None
    present_only: bool = False


@takes_kernel_or_default
def scan_process(
    pid: int,
    *,
    kernel: Kernel = DEFAULT,
    detail: bool = True,
    pages: bool = False,
    policies: bool = True,
    select: Callable[[Vma], bool] | None = None,
    ranges: Sequence[tuple[int, int]] = (),
    method: str = "auto",
    keep_pages: bool | None = None,
    present_only: bool = False,
) -> ProcessMemory:
    """Scan where the memory of ``pid`` lives (the keyword arguments are :class:`ScanOptions`'s)."""
    return scan(kernel, pid, ScanOptions(detail, pages, policies, select, ranges, method, keep_pages,
                                         present_only))


def scan(kernel: Kernel, pid: int, options: ScanOptions) -> ProcessMemory:
    """Scan where the memory of ``pid`` lives, as ``options`` asks."""
    pid = check_pid(pid)
    ordered = check_ranges(options.ranges)
    per_page = options.pages or bool(ordered)
    name = _read(kernel, pid, "comm").strip()
    numa_entries = (parse_numa_maps(_read(kernel, pid, "numa_maps"))
                    if options.policies or not per_page else None)
    maps_entries = parse_maps(_read(kernel, pid, "maps"))
    detail = options.detail
    smaps_by_start = ({entry.vma.start: entry for entry in parse_smaps(_read(kernel, pid, "smaps"))}
                      if detail else {})
    if numa_entries is None:
        vmas = [_vma(None, entry, smaps_by_start.get(entry.start), detail) for entry in maps_entries]
    else:
        maps_by_start = {entry.start: entry for entry in maps_entries}
        vmas = [_vma(entry, maps_by_start.get(entry.start), smaps_by_start.get(entry.start), detail)
                for entry in numa_entries]
    if options.select is not None:
        vmas = [vma for vma in vmas if options.select(vma)]
    if ordered:
        vmas = _clip(vmas, ordered)

    used = "numa_maps"
    if per_page:
        kept = options.keep_pages if options.keep_pages is not None else options.pages
        keep = ("present" if options.present_only else "all") if kept else ""
        used = place_pages(kernel, pid, vmas, options.method, keep)
    return ProcessMemory(pid=pid, name=name, vmas=vmas, threads=read_threads(pid, kernel), method=used)


def read_threads(pid: int, kernel: Kernel) -> list[ThreadPlacement]:
    """Each thread's last CPU (/proc/PID/task/TID/stat, field 39) and that CPU's node."""
    try:
        tids = [int(t) for t in kernel.listdir(f"proc/{pid}/task") if t.isdigit()]
    except OSError:
        return []
    threads = []
    cpu_node = cpu_node_map(kernel)
    refreshed = False
    for tid in tids:
        text = kernel.read_if_alive(f"proc/{pid}/task/{tid}/stat")
        if text is None:
            continue  # the thread exited
        stat = parse_task_stat(text)
        if stat.processor not in cpu_node and not refreshed:
            cpu_node, refreshed = cpu_node_map(kernel, fresh=True), True  # a CPU that came online since
        threads.append(ThreadPlacement(tid, stat.processor, cpu_node.get(stat.processor)))
    return threads


def check_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges sorted, refused when they overlap."""
    ordered = sorted(ranges)
    for (a_start, a_end), (b_start, b_end) in itertools.pairwise(ordered):
        if b_start < a_end:
            raise InvalidInputError(f"ranges {a_start:#x}-{a_end:#x} and {b_start:#x}-{b_end:#x} overlap")
    return ordered


def _read(kernel: Kernel, pid: int, name: str) -> str:
    with process_errors(pid, name):
        return kernel.read_text(f"proc/{pid}/{name}")


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
    if path in SPECIAL_MAPPINGS:
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
