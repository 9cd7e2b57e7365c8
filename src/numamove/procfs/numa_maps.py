"""Parser of ``/proc/PID/numa_maps``: each VMA's memory policy and pages per node. Pure.

May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from numamove.errors import InvalidInputError
from numamove.procfs._text import DELETED as _DELETED
from numamove.procfs._text import malformed as _malformed

__all__ = ["NumaMapsEntry", "parse_numa_maps"]


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

