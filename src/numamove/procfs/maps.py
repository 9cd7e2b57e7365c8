"""Parsers of ``/proc/PID/maps`` and ``/proc/PID/smaps`` (and ``smaps_rollup``). Pure: text in, entries out.

Lines are split on ``"\\n"`` only, never with ``str.splitlines()``: a file
name may contain form feeds or other characters that ``splitlines`` treats
as line ends, and the kernel escapes nothing but the newline in maps.
May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from numamove.procfs._text import DELETED as _DELETED
from numamove.procfs._text import decimal as _decimal
from numamove.procfs._text import malformed as _malformed

__all__ = ["MapsEntry", "SmapsEntry", "parse_maps", "parse_smaps"]


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

