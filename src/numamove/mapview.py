"""Pictures of where a process's pages live: a PNG and a compact text strip.

Both views draw one band (or line) per VMA that carries per-page data
(``Vma.pages``), in address order. A VMA with more pages than the band has
pixels (or characters) is compressed: each pixel column or character shows
the majority of the slice of pages it covers. Counting is vectorised and done
in chunks, so a VMA of millions of pages costs a few bincounts and a bounded
amount of memory.

The slice rule, shared by both views: the category with the most pages wins,
ties going to a node (the lowest id), then swapped, then zero page, then not
present; the zero page wins only a slice it fills more than half of, so a
mostly-touched slice never shows as zero page.

The PNG needs ``numamove[plot]`` (matplotlib), imported only when
:func:`render_png` runs. The picture is composed as one RGB array with numpy,
and its text drawn with matplotlib's DejaVu Sans Mono through Pillow, which
matplotlib depends on: no pyplot, no global backend switch, and the memory is
a few bytes per pixel of the picture, whatever the number of pages.
"""

from __future__ import annotations

import errno
import importlib.util
import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from numamove._format import human_bytes
from numamove.errors import InvalidInputError, UnsupportedError

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

    from numamove.placement import ProcessMemory, Vma
    from numamove.topology import Node

__all__ = [
    "NODE_COLORS",
    "NOT_PRESENT_COLOR",
    "SWAPPED_COLOR",
    "ZERO_PAGE_COLOR",
    "node_char",
    "node_color",
    "render_png",
    "render_text",
]

NODE_COLORS: tuple[str, ...] = (
    "#0072B2",  # node 0: blue (Okabe-Ito)
    "#E69F00",  # node 1: orange (Okabe-Ito)
    "#009E73",  # node 2: bluish green (Okabe-Ito)
    "#CC79A7",  # node 3: reddish purple (Okabe-Ito)
    "#56B4E9",  # node 4: sky blue (Okabe-Ito)
    "#D55E00",  # node 5: vermillion (Okabe-Ito)
    "#F0E442",  # node 6: yellow (Okabe-Ito)
    "#332288",  # node 7: indigo (Paul Tol, muted)
    "#882255",  # node 8: wine (Paul Tol, muted)
    "#999933",  # node 9: olive (Paul Tol, muted)
    "#44AA99",  # node 10: teal (Paul Tol, muted)
)
"""The color of node N is ``NODE_COLORS[N % len(NODE_COLORS)]``, the same in every picture.

The Okabe-Ito palette first (distinguishable with the common forms of color
blindness), then Paul Tol's muted colors; none is white or grey, which mark
pages that are on no node.
"""
NOT_PRESENT_COLOR = "#FFFFFF"
"""Pages not present (never touched, or evicted): blank, inside the band's frame."""
ZERO_PAGE_COLOR = "#D9D9D9"
"""Pages mapped to the shared zero page (read, never written): light grey."""
SWAPPED_COLOR = "#505050"
"""Pages swapped out: dark grey."""

_NOT_PRESENT = -errno.ENOENT
_ZERO_PAGE = -errno.EFAULT
_NODE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Pages counted per numpy pass: bounds the temporaries for VMAs of millions of pages.
_CHUNK = 1 << 20

# PNG layout, in pixels; type sizes are pixels per em.
_MARGIN = 14
_MIN_WIDTH_PX = 480
_MAX_BANDS = 1200
"""More VMAs than this: only the largest are drawn, so the picture stays a bounded size."""
_TITLE_PX, _HEADER_PX, _LEGEND_PX, _NOTE_PX = 17, 13, 12, 11
_SWATCH = 12
_FRAME_RGB = np.array([0x8C, 0x8C, 0x8C], dtype=np.uint8)
_NOTE_COLOR = "#555555"


@dataclass(frozen=True)
class _Layout:
    row_px: int
    row_gap: int
    band_gap: int
    max_rows: int
    font_px: int


_ROOMY = _Layout(row_px=14, row_gap=3, band_gap=10, max_rows=4, font_px=11)
_COMPACT = _Layout(row_px=10, row_gap=1, band_gap=3, max_rows=1, font_px=9)
_COMPACT_FROM = 300
"""From this many bands on, one row each and smaller type, so the picture does not get too tall."""


def node_color(node: int) -> str:
    """The color of ``node`` in pictures, as "#RRGGBB"; colors repeat after len(NODE_COLORS) nodes."""
    if node < 0:
        raise InvalidInputError(f"node ids are not negative: {node}")
    return NODE_COLORS[node % len(NODE_COLORS)]


def node_char(node: int) -> str:
    """The character for ``node`` in text strips: 0-9, then A-Z for 10-35, then "#"."""
    if node < 0:
        raise InvalidInputError(f"node ids are not negative: {node}")
    return _NODE_CHARS[node] if node < len(_NODE_CHARS) else "#"


def render_text(memory: ProcessMemory, width: int = 80) -> list[str]:
    """One line per VMA with per-page data, then a legend line, each at most ``width`` characters.

    A line is the VMA's first address in hex and its kind, then a strip: a
    character per page when the VMA fits, else per slice of pages (its
    majority): the node's :func:`node_char`, "." not present, "z" zero page,
    "s" swapped. Plain text; color it with :func:`node_color` if wanted.
    """
    bands = _bands(memory)
    if not bands:
        return ["(no VMA has per-page data)"]
    max_node = _max_node(bands)
    chars = np.array([node_char(n) for n in range(max_node + 1)] + ["s", "z", "."])
    lines = []
    seen: set[int] = set()
    for vma, low, _high in bands:
        label = f"{low:012x} {vma.kind.value:<7} "
        strip_width = max(width - len(label), 8)
        codes, totals = _slices(vma, min(_page_count(vma), strip_width), max_node)
        seen.update(n for n in range(max_node + 1) if totals[n])
        lines.append(label + "".join(chars[codes].tolist()))
    legend = "  ".join([*(f"{node_char(n)} node {n}" for n in sorted(seen)),
                        ". not present", "z zero page", "s swapped"])
    note = "  (a wide VMA: a character is a slice's majority)"
    lines.extend(textwrap.wrap(legend + note if len(legend + note) <= width else legend, max(width, 20)))
    return lines


def render_png(
    memory: ProcessMemory,
    path: str | os.PathLike[str],
    *,
    nodes: Sequence[Node] | None = None,
    width_px: int = 1600,
) -> None:
    """Draw where the pages of ``memory`` live as a PNG ``width_px`` pixels wide.

    One band per VMA with per-page data, in address order, labelled with its
    address range, kind, size and file name; a page (or the majority of a
    slice of pages, for a VMA wider than the band) is a cell in its node's
    color from :data:`NODE_COLORS`. Not present pages are white, the zero page
    light grey, swapped pages dark grey. VMAs of more pages than the band's
    width wrap onto up to four rows before being compressed. The title gives
    totals per node; ``nodes`` (from :func:`numamove.nodes`) adds whether each
    node is memory only and its memory tier to the legend.

    Beyond 1200 such VMAs only the largest 1200 are drawn (the title says how
    many were left out), which bounds the picture's height and memory.

    Raises UnsupportedError without matplotlib, InvalidInputError when no VMA
    has per-page data or ``width_px`` is below 480.
    """
    try:
        from PIL import Image, ImageDraw, ImageFont

        fonts = _matplotlib_fonts()
    except ImportError:
        raise UnsupportedError(getattr(errno, "ENOPKG", errno.ENOSYS),
                               "drawing a PNG needs matplotlib: pip install 'numamove[plot]'") from None
    if width_px < _MIN_WIDTH_PX:
        raise InvalidInputError(f"the picture must be at least {_MIN_WIDTH_PX} pixels wide, not {width_px}")
    found = _bands(memory)
    if not found:
        raise InvalidInputError("no VMA has per-page data to draw: scan with pages=True")
    skipped = 0
    if len(found) > _MAX_BANDS:
        largest = sorted(range(len(found)), key=lambda i: _page_count(found[i][0]), reverse=True)
        skipped = len(found) - _MAX_BANDS
        found = [found[i] for i in sorted(largest[:_MAX_BANDS])]
    layout = _COMPACT if len(found) >= _COMPACT_FROM else _ROOMY
    max_node = _max_node(found)

    # matplotlib's own DejaVu Sans Mono, drawn by Pillow (a matplotlib dependency): Pillow lays out a
    # thousand labels in milliseconds, where matplotlib's Text artists take seconds and resample the
    # whole picture in floating point.
    regular = os.path.join(fonts, "DejaVuSansMono.ttf")
    label_font, header_font, legend_font, note_font = (
        ImageFont.truetype(regular, size) for size in (layout.font_px, _HEADER_PX, _LEGEND_PX, _NOTE_PX))
    title_font = ImageFont.truetype(os.path.join(fonts, "DejaVuSansMono-Bold.ttf"), _TITLE_PX)

    char_px = _advance(label_font)
    label_chars = max(min(int(0.3 * width_px / char_px), 62), 30)
    x0 = _MARGIN + math.ceil(label_chars * char_px) + 10
    data_px = width_px - x0 - _MARGIN

    # Count first: the header needs the totals before the bands' rows can be placed.
    bands: list[_Band] = []
    totals = np.zeros(max_node + 4, dtype=np.int64)
    for vma, low, high in found:
        pages = _page_count(vma)
        rows = min(layout.max_rows, max(1, math.ceil(pages / data_px)))
        per_row = min(data_px, pages // rows)
        codes, counts = _slices(vma, rows * per_row, max_node)
        totals += counts
        bands.append(_Band(_band_label(vma, low, high, label_chars), codes, rows, per_row,
                           pages > rows * per_row))

    entries, legend = _header_lines(memory, totals, max_node, len(bands), skipped,
                                    {node.id: node for node in nodes or ()})
    text_width = width_px - 2 * _MARGIN
    header = _wrap_entries(entries, int(text_width / _advance(header_font)))
    legend_rows = _flow(legend, text_width, _advance(legend_font))
    note = textwrap.wrap(_reading_note(bands, layout), int(text_width / _advance(note_font)))

    title_y = _MARGIN + 9
    header_y = title_y + 24
    legend_y = header_y + 17 * len(header) + 8
    note_y = legend_y + 20 * len(legend_rows)
    bands_y = note_y + 15 * len(note) + 12
    height = bands_y + _MARGIN + sum(
        band.rows * layout.row_px + (band.rows - 1) * layout.row_gap + layout.band_gap for band in bands)

    image = np.full((height, width_px, 3), 255, dtype=np.uint8)
    texts = [_Text(_MARGIN, title_y, f"pid {memory.pid} ({memory.name}): where its pages live", title_font)]
    texts += [_Text(_MARGIN, header_y + 17 * i, line, header_font) for i, line in enumerate(header)]
    for row_index, row_entries in enumerate(legend_rows):
        middle = legend_y + 20 * row_index
        for x, (label, color) in row_entries:
            _box(image, middle - _SWATCH // 2, _MARGIN + x, _SWATCH, _SWATCH, _rgb([color]))
            texts.append(_Text(_MARGIN + x + _SWATCH + 6, middle, label, legend_font))
    texts += [_Text(_MARGIN, note_y + 15 * i, line, note_font, _NOTE_COLOR) for i, line in enumerate(note)]

    lut = _rgb([node_color(n) for n in range(max_node + 1)]
               + [SWAPPED_COLOR, ZERO_PAGE_COLOR, NOT_PRESENT_COLOR])
    # Pixel x of a row shows slice x * per_row // data_px of it: small VMAs stretch to the full width.
    y = bands_y
    for band in bands:
        columns = np.arange(data_px, dtype=np.intp) * band.per_row // data_px
        # Cells 8 px wide or more get a line between them, so the pages of a small VMA can be counted.
        edges = (np.flatnonzero(np.diff(columns)) + 1 + x0) if data_px >= 8 * band.per_row else None
        top = y
        for row in range(band.rows):
            _box(image, y, x0, data_px, layout.row_px, lut[band.codes[row * band.per_row + columns]])
            if edges is not None:
                image[y:y + layout.row_px, edges] = _FRAME_RGB
            y += layout.row_px + layout.row_gap
        texts.append(_Text(_MARGIN, (top + y - layout.row_gap) / 2, band.label, label_font))
        y += layout.band_gap - layout.row_gap

    picture = Image.fromarray(image, "RGB")
    del image  # the picture holds its own copy: only one full-size buffer from here on
    draw = ImageDraw.Draw(picture)
    for text in texts:
        draw.text((text.x, text.y), text.text, font=text.font, fill=text.color, anchor="lm")
    # Fast zlib level: a map is mostly flat color and compresses well anyway.
    picture.save(os.fspath(path), format="PNG", compress_level=1)


@dataclass(frozen=True)
class _Band:
    label: str
    codes: npt.NDArray[np.intp]
    """The category of each slice, ``rows * per_row`` of them."""
    rows: int
    per_row: int
    compressed: bool
    """More pages than slices: a slice shows its majority."""


@dataclass(frozen=True)
class _Text:
    x: float
    y: float
    """Pixels from the top; the text is centered on it vertically."""
    text: str
    font: FreeTypeFont
    color: str = "#000000"


def _box(image: npt.NDArray[np.uint8], top: int, left: int, width: int, height: int,
         colors: npt.NDArray[np.uint8]) -> None:
    """Fill a box in a 1 px frame: ``colors`` holds one color, or one per column."""
    image[top - 1:top + height + 1, left - 1:left + width + 1] = _FRAME_RGB
    image[top:top + height, left:left + width] = colors[None, :, :]


def _reading_note(bands: Sequence[_Band], layout: _Layout) -> str:
    note = "Each band is one VMA, its pages from left to right in address order"
    if any(band.rows > 1 for band in bands):
        note += f"; a VMA of more pages than the band has pixels wraps onto up to {layout.max_rows} rows"
    if any(band.compressed for band in bands):
        note += "; where a pixel covers several pages it shows the majority of them"
    return note + "."


def _matplotlib_fonts() -> str:
    """matplotlib's bundled font folder, found without importing matplotlib (seconds in a slow VM)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("matplotlib")
    return os.path.join(next(iter(spec.submodule_search_locations)), "mpl-data", "fonts", "ttf")


def _advance(font: FreeTypeFont) -> float:
    """The width in pixels of one character of the monospace ``font``."""
    return float(font.getlength("0" * 40)) / 40


def _bands(memory: ProcessMemory) -> list[tuple[Vma, int, int]]:
    """The VMAs with per-page data, in address order, with the range their pages cover."""
    bands = []
    for vma in memory.vmas:
        if vma.pages is None or len(vma.pages.nodes) == 0:
            continue
        low, high = vma.scanned or (vma.start, vma.end)
        if len(vma.pages.addresses):
            low = int(vma.pages.addresses[0])
            high = int(vma.pages.addresses[-1]) + memory.page_size
        bands.append((vma, low, high))
    return sorted(bands, key=lambda band: band[1])


def _page_count(vma: Vma) -> int:
    return len(vma.pages.nodes) if vma.pages is not None else 0


def _max_node(bands: Sequence[tuple[Vma, int, int]]) -> int:
    highest = -1
    for vma, _low, _high in bands:
        assert vma.pages is not None
        highest = max(highest, int(vma.pages.nodes.max()))
    return highest


def _slices(vma: Vma, slices: int, max_node: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """The winning category of each of ``slices`` equal slices of the VMA's pages, and totals per category.

    Categories: node ids 0..max_node, then swapped, zero page, not present (max_node + 1, + 2, + 3).
    """
    assert vma.pages is not None
    nodes, swapped = vma.pages.nodes, vma.pages.swapped
    count = len(nodes)
    kinds = max_node + 4
    swap_cat, zero_cat, absent_cat = max_node + 1, max_node + 2, max_node + 3
    counts = np.zeros(slices * kinds, dtype=np.int64)
    for low in range(0, count, _CHUNK):
        high = min(low + _CHUNK, count)
        part = nodes[low:high]
        category = np.where(part >= 0, part, absent_cat).astype(np.int64)
        category[part == _ZERO_PAGE] = zero_cat
        category[swapped[low:high]] = swap_cat
        # Page i belongs to slice i * slices // count: slices differ by at most one page.
        index = np.arange(low, high, dtype=np.int64) * slices // count
        counts += np.bincount(index * kinds + category, minlength=slices * kinds)
    table = counts.reshape(slices, kinds)
    totals = table.sum(axis=0)
    contest = table.copy()
    # The zero page is "read but never written": show it only where it is most of the slice.
    contest[contest[:, zero_cat] * 2 <= table.sum(axis=1), zero_cat] = -1
    return np.argmax(contest, axis=1).astype(np.intp), totals


def _header_lines(
    memory: ProcessMemory,
    totals: npt.NDArray[np.int64],
    max_node: int,
    vma_count: int,
    skipped: int,
    by_id: dict[int, Node],
) -> tuple[list[str], list[tuple[str, str]]]:
    """The totals under the title, as entries to wrap, and the legend's (label, color) entries."""
    page_size = memory.page_size
    present = int(totals[:max_node + 1].sum())
    all_pages = int(totals.sum())
    plural = "s" if vma_count != 1 else ""
    entries = [f"{all_pages:,} pages ({human_bytes(all_pages * page_size)}) in {vma_count} VMA{plural}"
               + (f" (the {skipped} smallest not drawn)" if skipped else ""),
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
    legend += [("not present", NOT_PRESENT_COLOR), ("zero page", ZERO_PAGE_COLOR), ("swapped", SWAPPED_COLOR)]
    return entries, legend


def _node_label(node: int, by_id: dict[int, Node]) -> str:
    info = by_id.get(node)
    if info is None:
        return f"node {node}"
    parts = ["memory only" if info.memory_only else "with CPUs"]
    if info.tier is not None:
        parts.append(f"tier {info.tier}")
    return f"node {node} ({', '.join(parts)})"


def _band_label(vma: Vma, low: int, high: int, limit: int) -> str:
    """ "7f3a2c000000-7f3a2c200000 file      2.0 MiB libc.so.6", shortened to fit ``limit`` characters."""
    size = f"{human_bytes(high - low):>9}"
    name = os.path.basename(vma.path.rstrip("/")) or vma.path
    if name == f"[{vma.kind.value}]":
        name = ""  # "[heap]" and "[stack]" say no more than the kind
    kind = f"{vma.kind.value:<7}"
    label = f"{low:012x}-{high:012x} {kind} {size}"
    room = limit - len(label) - 1
    if name and room >= 4:
        return f"{label} {name if len(name) <= room else name[:room - 1] + '…'}"
    # Narrow pictures: drop what the neighbouring bands make guessable, the end address first.
    for short in (label, f"{low:012x} {kind} {size}", f"{low:012x} {vma.kind.value}"):
        if len(short) <= limit:
            return short
    return short[:limit]


def _wrap_entries(entries: Sequence[str], limit: int) -> list[str]:
    """Join entries with " · " into lines of at most ``limit`` characters, never splitting one."""
    lines: list[str] = []
    for entry in entries:
        if lines and len(lines[-1]) + 3 + len(entry) <= limit:
            lines[-1] += " · " + entry
        else:
            lines.append(entry)
    return lines


_Placed = tuple[int, tuple[str, str]]


def _flow(entries: Sequence[tuple[str, str]], width: int, char_px: float) -> list[list[_Placed]]:
    """Legend entries laid out left to right in rows ``width`` pixels wide: (x offset, entry)."""
    rows: list[list[_Placed]] = [[]]
    x = 0
    for entry in entries:
        span = 12 + 6 + math.ceil(len(entry[0]) * char_px) + 22
        if rows[-1] and x + span > width:
            rows.append([])
            x = 0
        rows[-1].append((x, entry))
        x += span
    return rows


def _rgb(colors: Sequence[str]) -> npt.NDArray[np.uint8]:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.uint8)


