"""Pure parsers for a Linux process's memory files under /proc, and two sysfs helpers.

Text or bytes in, values out: nothing here opens a file or makes a syscall.

* :func:`parse_maps` reads ``/proc/PID/maps``
* :func:`parse_numa_maps` reads ``/proc/PID/numa_maps``
* :func:`parse_smaps` reads ``/proc/PID/smaps`` (and ``smaps_rollup``)
* :func:`decode_pagemap` decodes ``/proc/PID/pagemap``
* :func:`parse_task_stat` reads ``/proc/PID/task/TID/stat`` and ``/proc/PID/stat``
* :func:`parse_memory_block_size` reads ``/sys/devices/system/memory/block_size_bytes``
* :func:`pfn_nodes` maps page frame numbers to nodes through the memory blocks
  listed in ``/sys/devices/system/node/nodeN/memoryM``

Lines are split on ``"\\n"`` only, never with ``str.splitlines()``: a file
name may contain form feeds or other characters that ``splitlines`` treats
as line ends, and the kernel escapes nothing but the newline in maps.
"""

from __future__ import annotations

import operator
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Final, SupportsIndex

import numpy as np
import numpy.typing as npt

from numamove.errors import InputTypeError, InvalidInputError

__all__ = [
    "PM_EXCLUSIVE",
    "PM_FILE",
    "PM_GUARD_REGION",
    "PM_PFN_MASK",
    "PM_PRESENT",
    "PM_SOFT_DIRTY",
    "PM_SWAP",
    "PM_SWAP_OFFSET_SHIFT",
    "PM_SWAP_TYPE_MASK",
    "PM_UFFD_WP",
    "MapsEntry",
    "NumaMapsEntry",
    "Pagemap",
    "SmapsEntry",
    "TaskStat",
    "decode_pagemap",
    "parse_maps",
    "parse_memory_block_size",
    "parse_numa_maps",
    "parse_smaps",
    "parse_task_stat",
    "pfn_nodes",
]


def _malformed(kind: str, lineno: int, line: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"malformed {kind} line {lineno} ({why}): {line!r}")


def _decimal(word: str) -> int | None:
    """A plain unsigned decimal, or None: int() would also take "+1", "1_0" and non-ASCII digits."""
    if word.isascii() and word.isdigit():
        return int(word)
    return None


# --------------------------------------------------------------------------------------------------
# /proc/PID/maps


@dataclass(slots=True)
class MapsEntry:
    """One VMA, as one line of ``/proc/PID/maps`` shows it.

    ``start``/``end`` are a half-open address range. ``path`` is "" for an
    anonymous mapping and keeps the kernel's pseudo names ("[heap]",
    "[stack]", "[vdso]", "[anon:name]", ...); a " (deleted)" suffix is
    removed from it and recorded in ``deleted``.
    """

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str = ""
    deleted: bool = False

    @property
    def size(self) -> int:
        """Length of the range in bytes."""
        return self.end - self.start

    @property
    def shared(self) -> bool:
        """True for a MAP_SHARED mapping (the kernel prints VM_MAYSHARE as "s")."""
        return self.perms[3] == "s"


# The kernel pads the path to a fixed column, so any run of spaces separates
# it from the inode; an anonymous VMA ends with the inode and one space.
_MAPS_LINE: Final = re.compile(
    r"([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][sp]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) ([0-9]+)(?: +(.*))?"
)
_MAPS_LINES: Final = re.compile(f"^{_MAPS_LINE.pattern}$", re.MULTILINE)
_DELETED: Final = " (deleted)"


def _maps_entry(start: str, end: str, perms: str, offset: str, dev: str, inode: str, path: str) -> MapsEntry:
    deleted = path.endswith(_DELETED)
    if deleted:
        path = path[: -len(_DELETED)]
    # maps escapes only the newline in a path (as octal, like mangle_path does).
    if "\\012" in path:
        path = path.replace("\\012", "\n")
    return MapsEntry(int(start, 16), int(end, 16), perms, int(offset, 16), dev, int(inode), path, deleted)


def parse_maps(text: str) -> list[MapsEntry]:
    """``/proc/PID/maps`` -> one :class:`MapsEntry` per line, in address order.

    Raises :class:`~numamove.errors.InvalidInputError` naming the line for
    anything that is not a maps line.
    """
    # One regex pass over the whole text; when it misses a line, the line-by-line pass names it.
    fields = _MAPS_LINES.findall(text)
    lines = text.split("\n")
    if len(fields) == len(lines) - lines.count(""):
        return [_maps_entry(*line) for line in fields]
    entries: list[MapsEntry] = []
    for lineno, line in enumerate(lines, 1):
        if not line:
            continue
        match = _MAPS_LINE.fullmatch(line)
        if match is None:
            raise _malformed("/proc/PID/maps", lineno, line, "not 'start-end perms offset dev inode [path]'")
        entries.append(_maps_entry(*match.groups(default="")))
    return entries


# --------------------------------------------------------------------------------------------------
# /proc/PID/numa_maps


@dataclass(slots=True)
class NumaMapsEntry:
    """One VMA, as one line of ``/proc/PID/numa_maps`` shows it.

    Counts are in pages of ``kernel_page_size`` bytes, as the kernel prints
    them: one per 2 MiB page in a hugetlb VMA, but one per base page for a
    transparent huge page. The kernel omits a count that is zero, so absent
    counts read 0, with two exceptions to keep in mind:

    * ``mapped`` is printed only when the total differs from both ``anon``
      and ``dirty``; the total is always :attr:`pages`.
    * ``active`` is printed only when some pages are inactive (and never
      for hugetlb), so 0 here can also mean "all active".

    ``kernel_page_size`` (bytes) is printed only for a VMA with pages; it
    defaults to 4096, which is wrong for an empty hugetlb VMA (``huge``).
    ``path`` is None for a VMA without a file, with the kernel's octal
    escapes undone; a " (deleted)" suffix is moved into ``deleted`` as in
    :class:`MapsEntry`. ``policy`` is the kernel's text ("default",
    "bind:1", "interleave=static:0-2", "weighted interleave:0-1", ...).
    Fields this parser does not know are kept as text in ``extra``
    (a bare word maps to "").
    """

    start: int
    policy: str
    path: str | None = None
    deleted: bool = False
    heap: bool = False
    stack: bool = False
    huge: bool = False
    anon: int = 0
    dirty: int = 0
    mapped: int = 0
    mapmax: int = 0
    swapcache: int = 0
    active: int = 0
    writeback: int = 0
    unevictable: int = 0
    kernel_page_size: int = 4096
    pages_by_node: dict[int, int] = field(default_factory=dict, hash=False)
    extra: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def pages(self) -> int:
        """All pages of the VMA in memory, in kernel pages (the kernel counts each on exactly one node)."""
        return sum(self.pages_by_node.values())

    def base_pages_by_node(self, page_size: int = 4096) -> dict[int, int]:
        """``pages_by_node`` in pages of ``page_size`` bytes: N1=2 at 2048 kB reads {1: 1024}."""
        if page_size <= 0:
            raise InvalidInputError(f"page size must be positive, not {page_size}")
        return {
            node: count * self.kernel_page_size // page_size for node, count in self.pages_by_node.items()
        }


# Two mode names contain a space ("weighted interleave", "prefer (many)");
# flags ("=static") and the node list (":0-2") follow without one.
_NUMA_POLICY: Final = re.compile(r"(?:weighted interleave|prefer \(many\)|[^\s=:]+)\S*")
_HEX: Final = re.compile(r"[0-9a-f]+")
_NUMA_COUNT_KEYS: Final = frozenset(
    {"anon", "dirty", "mapped", "mapmax", "swapcache", "active", "writeback", "unevictable"}
)
# numa_maps prints file= through seq_path(..., "\n\t= "): those four characters
# become \ooo. A backslash is not escaped, so only these codes are decoded.
_NUMA_ESCAPE: Final = re.compile(r"\\(012|011|075|040)")


def _unescape_numa_path(value: str) -> str:
    return _NUMA_ESCAPE.sub(lambda m: chr(int(m[1], 8)), value)


# show_numa_map() prints its fields in this order, each only when non-zero. A line in that
# shape takes one match; anything else (older kernels, fields added later) takes the word loop.
_NUMA_LINE: Final = re.compile(
    r"([0-9a-f]+) ((?:weighted interleave|prefer \(many\)|[^\s=:]+)\S*)"
    r"(?: file=(\S+)| (heap)| (stack))?( huge)?"
    r"(?: anon=(\d+))?(?: dirty=(\d+))?(?: mapped=(\d+))?(?: mapmax=(\d+))?"
    r"(?: swapcache=(\d+))?(?: active=(\d+))?(?: writeback=(\d+))?"
    r"((?: N\d+=\d+)*)(?: kernelpagesize_kB=(\d+))?",
    re.ASCII,
)
_NODE_COUNT: Final = re.compile(r" N(\d+)=(\d+)")


_NUMA_LINES: Final = re.compile(f"^{_NUMA_LINE.pattern}$", re.ASCII | re.MULTILINE)


def _numa_maps_fast(start: str, policy: str, file: str, heap: str, stack: str, huge: str, anon: str,
                    dirty: str, mapped: str, mapmax: str, swapcache: str, active: str, writeback: str,
                    nodes: str, page_kb: str) -> NumaMapsEntry:
    """An entry from the groups of a _NUMA_LINE match ("" for a group that did not take part)."""
    path = _unescape_numa_path(file) if file else None
    deleted = path is not None and path.endswith(_DELETED)
    if path is not None and deleted:
        path = path[: -len(_DELETED)]
    # Positional, in the field order: a scan builds one per VMA and keywords cost more.
    return NumaMapsEntry(
        int(start, 16), policy, path, deleted, bool(heap), bool(stack), bool(huge),
        int(anon) if anon else 0,
        int(dirty) if dirty else 0,
        int(mapped) if mapped else 0,
        int(mapmax) if mapmax else 0,
        int(swapcache) if swapcache else 0,
        int(active) if active else 0,
        int(writeback) if writeback else 0,
        0,  # unevictable: kernels that print it take the word loop
        int(page_kb) * 1024 if page_kb else 4096,
        {int(node): int(count) for node, count in _NODE_COUNT.findall(nodes)} if nodes else {},
        {},
    )


def _parse_numa_maps_line(lineno: int, line: str) -> NumaMapsEntry:
    match = _NUMA_LINE.fullmatch(line)
    return _numa_maps_fast(*match.groups("")) if match is not None else _numa_maps_by_word(lineno, line)


def _numa_maps_by_word(lineno: int, line: str) -> NumaMapsEntry:
    kind = "/proc/PID/numa_maps"
    head, _, rest = line.partition(" ")
    if _HEX.fullmatch(head) is None:  # int(x, 16) alone would take "0x7f", "+7f" and "7_f"
        raise _malformed(kind, lineno, line, "no start address")
    start = int(head, 16)
    policy_match = _NUMA_POLICY.match(rest)
    if policy_match is None:
        raise _malformed(kind, lineno, line, "no memory policy")

    path: str | None = None
    flags = {"heap": False, "stack": False, "huge": False}
    counts: dict[str, int] = {}
    nodes: dict[int, int] = {}
    extra: dict[str, str] = {}
    kernel_page_size = 4096
    # This loop runs for every VMA of every scan: plain string tests, no regex per word.
    for word in rest[policy_match.end() :].split():
        key, eq, value = word.partition("=")
        if not eq:
            # "stack:TID" is what kernels before 4.5 printed for a thread's stack.
            name = "stack" if key.startswith("stack:") else key
            if name in flags:
                flags[name] = True
            else:
                extra[key] = ""
            continue
        if key == "file":
            path = _unescape_numa_path(value)
            continue
        is_node = key[:1] == "N" and key[1:].isascii() and key[1:].isdigit()
        if not is_node and key != "kernelpagesize_kB" and key not in _NUMA_COUNT_KEYS:
            extra[key] = value
            continue
        if not (value.isascii() and value.isdigit()):
            raise _malformed(kind, lineno, line, f"{key}= is not a count")
        if is_node:
            nodes[int(key[1:])] = int(value)
        elif key == "kernelpagesize_kB":
            kernel_page_size = int(value) * 1024
        else:
            counts[key] = int(value)

    deleted = path is not None and path.endswith(_DELETED)
    if path is not None and deleted:
        path = path[: -len(_DELETED)]
    return NumaMapsEntry(
        start=start,
        policy=policy_match[0],
        path=path,
        deleted=deleted,
        heap=flags["heap"],
        stack=flags["stack"],
        huge=flags["huge"],
        anon=counts.get("anon", 0),
        dirty=counts.get("dirty", 0),
        mapped=counts.get("mapped", 0),
        mapmax=counts.get("mapmax", 0),
        swapcache=counts.get("swapcache", 0),
        active=counts.get("active", 0),
        writeback=counts.get("writeback", 0),
        unevictable=counts.get("unevictable", 0),
        kernel_page_size=kernel_page_size,
        pages_by_node=nodes,
        extra=extra,
    )


def parse_numa_maps(text: str) -> list[NumaMapsEntry]:
    """``/proc/PID/numa_maps`` -> one :class:`NumaMapsEntry` per line.

    numa_maps has no line for the [vsyscall] gate area that maps lists.
    """
    # One regex pass over the whole text when every line has the kernel's usual shape.
    fields = _NUMA_LINES.findall(text)
    lines = text.split("\n")
    if len(fields) == len(lines) - lines.count(""):
        return [_numa_maps_fast(*line) for line in fields]
    return [_parse_numa_maps_line(lineno, line) for lineno, line in enumerate(lines, 1) if line]


# --------------------------------------------------------------------------------------------------
# /proc/PID/smaps


@dataclass(slots=True)
class SmapsEntry:
    """One VMA of ``/proc/PID/smaps``: its maps line in ``vma``, sizes in BYTES.

    ``thp_eligible`` is None when the kernel did not print THPeligible.
    Numeric fields this class does not name (Pss_Dirty, KSM, LazyFree,
    ProtectionKey, ...) are kept in ``extra`` under the kernel's name,
    in bytes when the kernel gave them in kB.
    """

    vma: MapsEntry
    size: int = 0
    rss: int = 0
    pss: int = 0
    shared_clean: int = 0
    shared_dirty: int = 0
    private_clean: int = 0
    private_dirty: int = 0
    referenced: int = 0
    anonymous: int = 0
    anon_huge_pages: int = 0
    shmem_pmd_mapped: int = 0
    file_pmd_mapped: int = 0
    shared_hugetlb: int = 0
    private_hugetlb: int = 0
    swap: int = 0
    swap_pss: int = 0
    locked: int = 0
    kernel_page_size: int = 4096
    mmu_page_size: int = 4096
    thp_eligible: bool | None = None
    vm_flags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict, hash=False)

    @property
    def start(self) -> int:
        return self.vma.start

    @property
    def end(self) -> int:
        return self.vma.end


_SMAPS_SIZE_KEYS: Final = frozenset(
    {
        "Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
        "Referenced", "Anonymous", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped",
        "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked", "KernelPageSize", "MMUPageSize",
    }
)  # fmt: skip
_SMAPS_FIELD: Final = re.compile(r"([A-Za-z][A-Za-z0-9_]*):(.*)")


def _smaps_entry(
    vma: MapsEntry, values: dict[str, int], thp: bool | None, flags: tuple[str, ...]
) -> SmapsEntry:
    def take(key: str, default: int = 0) -> int:
        return values.pop(key, default)

    return SmapsEntry(
        vma=vma,
        size=take("Size"),
        rss=take("Rss"),
        pss=take("Pss"),
        shared_clean=take("Shared_Clean"),
        shared_dirty=take("Shared_Dirty"),
        private_clean=take("Private_Clean"),
        private_dirty=take("Private_Dirty"),
        referenced=take("Referenced"),
        anonymous=take("Anonymous"),
        anon_huge_pages=take("AnonHugePages"),
        shmem_pmd_mapped=take("ShmemPmdMapped"),
        file_pmd_mapped=take("FilePmdMapped"),
        shared_hugetlb=take("Shared_Hugetlb"),
        private_hugetlb=take("Private_Hugetlb"),
        swap=take("Swap"),
        swap_pss=take("SwapPss"),
        locked=take("Locked"),
        kernel_page_size=take("KernelPageSize", 4096),
        mmu_page_size=take("MMUPageSize", 4096),
        thp_eligible=thp,
        vm_flags=flags,
        extra=values,  # what take() left: the fields without a name here
    )


def parse_smaps(text: str) -> list[SmapsEntry]:
    """``/proc/PID/smaps`` (or ``smaps_rollup``) -> one :class:`SmapsEntry` per VMA.

    Each VMA starts with its maps line, followed by "Key:  N kB" lines.
    """
    kind = "/proc/PID/smaps"
    entries: list[SmapsEntry] = []
    vma: MapsEntry | None = None
    values: dict[str, int] = {}
    thp: bool | None = None
    flags: tuple[str, ...] = ()
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        header = _MAPS_LINE.fullmatch(line)
        if header is not None:
            if vma is not None:
                entries.append(_smaps_entry(vma, values, thp, flags))
            vma, values, thp, flags = _maps_entry(*header.groups(default="")), {}, None, ()
            continue
        match = _SMAPS_FIELD.fullmatch(line)
        if match is None:
            raise _malformed(kind, lineno, line, "neither a mapping header nor 'Key: value'")
        if vma is None:
            raise _malformed(kind, lineno, line, "field before the first mapping header")
        key, words = match[1], match[2].split()
        if key == "VmFlags":
            flags = tuple(words)
            continue
        number = _decimal(words[0]) if words else None
        if key == "THPeligible":
            if number not in (0, 1) or len(words) != 1:
                raise _malformed(kind, lineno, line, "THPeligible is not 0 or 1")
            thp = number == 1
            continue
        unit = words[1] if len(words) == 2 else None
        if number is None or len(words) > 2 or unit not in (None, "kB"):
            if key in _SMAPS_SIZE_KEYS:
                raise _malformed(kind, lineno, line, f"{key} is not 'N kB'")
            continue  # an unknown field in a shape we cannot read: skip it rather than fail
        values[key] = number * 1024 if unit == "kB" else number
    if vma is not None:
        entries.append(_smaps_entry(vma, values, thp, flags))
    return entries


# --------------------------------------------------------------------------------------------------
# /proc/PID/pagemap  (Documentation/admin-guide/mm/pagemap.rst)

PM_PRESENT: Final = 1 << 63
PM_SWAP: Final = 1 << 62
PM_FILE: Final = 1 << 61
"""The page is a file page or shared anonymous memory."""
PM_GUARD_REGION: Final = 1 << 58
"""The PTE is a guard region (MADV_GUARD_INSTALL, since Linux 6.15)."""
PM_UFFD_WP: Final = 1 << 57
PM_EXCLUSIVE: Final = 1 << 56
"""The page is mapped exactly once (Linux 4.2+)."""
PM_SOFT_DIRTY: Final = 1 << 55
PM_PFN_MASK: Final = (1 << 55) - 1
"""Bits 0-54: the PFN when present, the swap entry when swapped."""
PM_SWAP_TYPE_MASK: Final = 0x1F
PM_SWAP_OFFSET_SHIFT: Final = 5

_U8 = npt.NDArray[np.uint8]
_U64 = npt.NDArray[np.uint64]
_BOOL = npt.NDArray[np.bool_]

# The flag bits 56-63 share one byte of each entry and bit 55 is the top bit
# of the next one; testing bytes moves an eighth of the memory that testing
# the whole 64-bit words does.
_TOP_BYTE: Final = 7 if sys.byteorder == "little" else 0
_NEXT_BYTE: Final = 6 if sys.byteorder == "little" else 1


def _has_bit(raw: _U64, bit: int) -> _BOOL:
    flags: _BOOL = (raw & np.uint64(bit)) != 0
    return flags


@dataclass(frozen=True, eq=False)
class Pagemap:
    """Decoded ``/proc/PID/pagemap`` entries, one array element per virtual page.

    ``pfn`` is 0 where the page is not present, and everywhere when the
    reader lacked CAP_SYS_ADMIN (the kernel zeroes PFNs for it).
    ``swap_type``/``swap_offset`` are 0 where the page is not swapped.
    "Swapped" includes non-swap entries: a page caught mid-migration reads
    as swapped with one of the top swap types, and (for a privileged reader)
    its PFN as the offset. Recent kernels hide swap offsets from readers
    without CAP_SYS_ADMIN. ``raw`` holds the entries as read.
    """

    raw: _U64
    present: _BOOL
    swapped: _BOOL
    file_or_shared: _BOOL
    exclusive: _BOOL
    soft_dirty: _BOOL
    pfn: _U64
    swap_type: _U64
    swap_offset: _U64

    def __len__(self) -> int:
        return int(self.raw.shape[0])

    @property
    def uffd_wp(self) -> _BOOL:
        """PTE write-protected by userfaultfd (computed on use: rarely wanted)."""
        return _has_bit(self.raw, PM_UFFD_WP)

    @property
    def guard_region(self) -> _BOOL:
        """PTE is a guard region (computed on use: rarely wanted)."""
        return _has_bit(self.raw, PM_GUARD_REGION)


def _as_entries(data: bytes | bytearray | memoryview | npt.NDArray[np.generic]) -> _U64:
    if isinstance(data, np.ndarray):
        if data.dtype != np.dtype(np.uint64):
            raise InputTypeError(f"pagemap entries must be a native uint64 array, not {data.dtype}")
        return np.ascontiguousarray(data).reshape(-1)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputTypeError(f"pagemap data must be bytes or a uint64 array, not {type(data).__name__}")
    nbytes = memoryview(data).nbytes
    if nbytes % 8:
        raise InvalidInputError(
            f"/proc/PID/pagemap data of {nbytes} bytes is not a whole number of 8-byte entries"
        )
    return np.frombuffer(data, dtype=np.uint64)


def _zeros_unless(mask: _BOOL, values: _U64) -> _U64:
    values *= mask  # in place: zero where mask is False
    return values


def decode_pagemap(data: bytes | bytearray | memoryview | npt.NDArray[np.generic]) -> Pagemap:
    """Split ``/proc/PID/pagemap`` entries (native-endian uint64, one per page) into their fields.

    ``data`` is the bytes read from the file (a whole number of entries) or
    a uint64 array of them; neither is copied when it is contiguous.
    """
    raw = _as_entries(data)
    as_bytes: _U8 = raw.view(np.uint8)
    top = np.ascontiguousarray(as_bytes[_TOP_BYTE::8])
    present = (top & np.uint8(PM_PRESENT >> 56)) != 0
    swapped = (top & np.uint8(PM_SWAP >> 56)) != 0
    file_or_shared = (top & np.uint8(PM_FILE >> 56)) != 0
    exclusive = (top & np.uint8(PM_EXCLUSIVE >> 56)) != 0
    soft_dirty = (as_bytes[_NEXT_BYTE::8] & np.uint8(PM_SOFT_DIRTY >> 48)) != 0

    low = raw & np.uint64(PM_PFN_MASK)
    if swapped.any():
        swap_type = _zeros_unless(swapped, low & np.uint64(PM_SWAP_TYPE_MASK))
        swap_offset = _zeros_unless(swapped, low >> np.uint64(PM_SWAP_OFFSET_SHIFT))
    else:
        # The usual case; np.zeros costs next to nothing until written.
        swap_type = np.zeros(raw.shape, np.uint64)
        swap_offset = np.zeros(raw.shape, np.uint64)
    return Pagemap(
        raw=raw,
        present=present,
        swapped=swapped,
        file_or_shared=file_or_shared,
        exclusive=exclusive,
        soft_dirty=soft_dirty,
        pfn=_zeros_unless(present, low),
        swap_type=swap_type,
        swap_offset=swap_offset,
    )


# --------------------------------------------------------------------------------------------------
# /proc/PID/task/TID/stat


@dataclass(frozen=True)
class TaskStat:
    """The fields numamove reads from ``/proc/PID/task/TID/stat``.

    ``processor`` (field 39) is the CPU the task last ran on.
    """

    tid: int
    comm: str
    state: str
    processor: int


_PROCESSOR_FIELD: Final = 39


def parse_task_stat(text: str) -> TaskStat:
    """``/proc/PID/task/TID/stat`` or ``/proc/PID/stat`` -> :class:`TaskStat`.

    The command name is printed raw between parentheses and may itself hold
    spaces, ")" or a newline, so it ends at the last ")".
    """
    kind = "/proc/PID/task/TID/stat"
    line = text.rstrip("\n")
    head, sep, _ = line.partition(" (")
    close = line.rfind(")")
    tid = _decimal(head)
    if not sep or tid is None or close < len(head) + 2:
        raise _malformed(kind, 1, line, "not 'tid (comm) state ...'")
    fields = line[close + 1 :].split()  # fields 3 onwards
    if len(fields) < _PROCESSOR_FIELD - 2:
        raise _malformed(kind, 1, line, f"{len(fields) + 2} fields, expected at least {_PROCESSOR_FIELD}")
    processor = _decimal(fields[_PROCESSOR_FIELD - 3])
    if processor is None or len(fields[0]) != 1:
        raise _malformed(kind, 1, line, "bad state or processor field")
    return TaskStat(tid=tid, comm=line[len(head) + 2 : close], state=fields[0], processor=processor)


# --------------------------------------------------------------------------------------------------
# /sys/devices/system/memory


def parse_memory_block_size(text: str) -> int:
    """``/sys/devices/system/memory/block_size_bytes`` (hex without 0x: "8000000") -> bytes."""
    word = text.strip()
    if not word or not word.isascii() or any(c not in "0123456789abcdefABCDEF" for c in word):
        raise InvalidInputError(f"malformed /sys/devices/system/memory/block_size_bytes: {text!r}")
    size = int(word, 16)
    if size == 0:
        raise InvalidInputError(f"malformed /sys/devices/system/memory/block_size_bytes (zero): {text!r}")
    return size


def pfn_nodes(
    pfns: npt.NDArray[np.integer[Any]], block_pages: SupportsIndex, block_node: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.int32]:
    """The node of each page frame number, through the memory-block table.

    ``block_node[i]`` is the node of memory block i (from
    ``/sys/devices/system/node/nodeN/memoryI``), -1 when unknown;
    ``block_pages`` is the block size in pages. A PFN in an unknown block,
    beyond the table, or equal to 0 gives -1: pagemap writes PFN 0 for a
    page that is absent or that the reader may not see, and no user page
    lives in frame 0.
    """
    try:
        per_block = operator.index(block_pages)  # numpy integers too, but no floats
    except TypeError:
        raise InputTypeError(f"block_pages must be an integer, not {type(block_pages).__name__}") from None
    if per_block <= 0:
        raise InvalidInputError(f"block_pages must be positive, not {per_block}")
    frames = np.asarray(pfns)
    table = np.asarray(block_node)
    if frames.dtype.kind not in "iu":
        raise InputTypeError(f"PFNs must be an integer array, not {frames.dtype}")
    if table.ndim != 1 or table.dtype.kind not in "iu":
        raise InputTypeError(
            f"block_node must be a 1-D integer array, not {table.dtype} of shape {table.shape}"
        )

    # Negative PFNs wrap to huge values and so fall beyond the table.
    frames64 = frames.astype(np.uint64, copy=False)
    if per_block & (per_block - 1) == 0:  # always so in practice: a shift beats a division
        blocks = frames64 >> np.uint64(per_block.bit_length() - 1)
    else:
        blocks = frames64 // np.uint64(per_block)
    # One extra -1 slot at the end catches every block index beyond the table.
    lookup = np.full(table.shape[0] + 1, -1, dtype=np.int32)
    lookup[:-1] = table
    np.minimum(blocks, np.uint64(table.shape[0]), out=blocks)
    # Every index now fits in int64: take() with a signed view skips a conversion pass.
    nodes: npt.NDArray[np.int32] = np.take(lookup, blocks.view(np.int64))
    nodes[frames64 == 0] = -1
    return nodes
