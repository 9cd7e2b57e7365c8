"""The words in the picture: its header of totals, legend entries, band labels and reading note.

These turn counts into short lines and lay them out in a given number of
characters or pixels; :mod:`numamove.render.png` draws them.

Pure: imports numpy (for the totals' type), the band counting, the palette and
:mod:`numamove._format`; touches no kernel interface and no file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from numamove._format import human_bytes
from numamove.render.bands import Band
from numamove.render.palette import NOT_PRESENT_COLOR, SWAPPED_COLOR, ZERO_PAGE_COLOR, node_color

if TYPE_CHECKING:
    from numamove.model import ProcessMemory, Vma
    from numamove.topology import Node

__all__ = ["SPLIT", "Placed", "band_label", "flow", "header_lines", "reading_note", "wrap_entries"]

SPLIT = "split"
"""The legend entry of a cell split between kinds of pages: its swatch is striped."""

Placed = tuple[int, tuple[str, str]]
"""A legend entry laid out in a row: its x offset in pixels, and its (label, color)."""


def reading_note(bands: Sequence[Band], min_size: int) -> str:
    """How to read the picture, in one paragraph; it mentions folding only when a band is folded."""
    note = ("Each band is one VMA, its pages from left to right in address order; its length is its size on "
            "a log scale (ruler above: each step is 4 or 16 times the last), its exact size in its label")
    if any(len(band.vmas) > 1 for band in bands):
        note += ("; \"N VMAs\" is one file's neighbouring mappings, or neighbours under "
                 f"{human_bytes(min_size)}, folded into one band (--all-vmas draws each)")
    note += ("; a cell holding pages of several kinds (nodes, not present, ...) is split top to bottom in "
             "their shares, so interleaved pages show as stripes; \"THP\": transparent huge pages back part "
             "of the VMA")
    return note + "."


def header_lines(
    memory: ProcessMemory,
    totals: npt.NDArray[np.int64],
    max_node: int,
    vma_count: int,
    band_count: int,
    skipped: int,
    by_id: dict[int, Node],
) -> tuple[list[str], list[tuple[str, str]]]:
    """The totals under the title, as entries to wrap, and the legend's (label, color) entries."""
    page_size = memory.page_size
    present = int(totals[:max_node + 1].sum())
    all_pages = int(totals.sum())
    plural = "s" if vma_count != 1 else ""
    entries = [f"{all_pages:,} pages ({human_bytes(all_pages * page_size)}) in {vma_count} VMA{plural}"
               + (f" drawn as {band_count + skipped} bands" if band_count + skipped != vma_count else "")
               + (f" (the {skipped} smallest bands not drawn)" if skipped else ""),
               f"present {human_bytes(present * page_size)}"]
    legend: list[tuple[str, str]] = []
    for node in range(max_node + 1):
        if not totals[node]:
            continue
        share = 100 * totals[node] / present
        entries.append(f"node {node} {human_bytes(int(totals[node]) * page_size)} ({share:.1f}%)")
        legend.append((_node_label(node, by_id), node_color(node)))
    swapped, zero, absent = (int(totals[max_node + k]) for k in (1, 2, 3))
    entries.append(f"not present {human_bytes(absent * page_size)}")
    if zero:
        entries.append(f"zero page {human_bytes(zero * page_size)}")
    if swapped:
        entries.append(f"swapped {human_bytes(swapped * page_size)}")
    entries.append(f"read by {memory.method}")
    legend += [("not present", NOT_PRESENT_COLOR), ("zero page", ZERO_PAGE_COLOR), ("swapped", SWAPPED_COLOR),
               ("mixed: a cell split in the shares of its pages", SPLIT)]
    return entries, legend


def _node_label(node: int, by_id: dict[int, Node]) -> str:
    info = by_id.get(node)
    if info is None:
        return f"node {node}"
    parts = ["memory only" if info.memory_only else "with CPUs"]
    if info.tier is not None:
        parts.append(f"tier {info.tier}")
    return f"node {node} ({', '.join(parts)})"


def band_label(band: Band, limit: int) -> str:
    """ "7f3a2c000000-7f3a2c200000 file      2.0 MiB libc.so.6", shortened to fit ``limit`` characters.

    Addresses are never shortened: the name goes first, then the end address.
    """
    size = f"{human_bytes(band.size):>10}"
    names = dict.fromkeys(name for name in (_vma_name(vma) for vma in band.vmas) if name)
    name = ",".join(names)
    kind = f"{band.kind_text():<8}"
    label = f"{band.low:012x}-{band.high:012x} {kind} {size}"
    room = limit - len(label) - 1
    if name and room >= 4:
        return f"{label} {name if len(name) <= room else name[:room - 1] + '…'}"
    # Narrow pictures: drop what the neighbouring bands make guessable, the end address first.
    for short in (label, f"{band.low:012x} {kind} {size}"):
        if len(short) <= limit:
            return short
    return f"{band.low:012x} {band.kind_text()}"


def _vma_name(vma: Vma) -> str:
    name = os.path.basename(vma.path.rstrip("/")) or vma.path
    return "" if name == f"[{vma.kind.value}]" else name  # "[heap]" and "[stack]" say no more than the kind


def wrap_entries(entries: Sequence[str], limit: int) -> list[str]:
    """Join entries with " · " into lines of at most ``limit`` characters, never splitting one."""
    lines: list[str] = []
    for entry in entries:
        if lines and len(lines[-1]) + 3 + len(entry) <= limit:
            lines[-1] += " · " + entry
        else:
            lines.append(entry)
    return lines


def flow(entries: Sequence[tuple[str, str]], width: int, char_px: float) -> list[list[Placed]]:
    """Legend entries laid out left to right in rows ``width`` pixels wide: (x offset, entry)."""
    rows: list[list[Placed]] = [[]]
    x = 0
    for entry in entries:
        span = 12 + 6 + math.ceil(len(entry[0]) * char_px) + 22
        if rows[-1] and x + span > width:
            rows.append([])
            x = 0
        rows[-1].append((x, entry))
        x += span
    return rows
