"""The picture file of where a process's pages live: one band per VMA, its pages in its nodes' colors.

A band's length shows its size on a log scale (a ruler above the bands reads
it), and the band is cut into cells of whole pages; a cell whose pages are of
several kinds (nodes, not present, ...) is split top to bottom in their
shares, so page-level interleaving shows as stripes of the nodes' own colors.
Bands are folded and counted by :mod:`numamove.render.bands`, worded by
:mod:`numamove.render.captions`.

The picture needs ``numamove[plot]`` (matplotlib), imported only when
:func:`render_png` runs. It is composed as one RGB array with numpy, its text
drawn with matplotlib's DejaVu Sans Mono through Pillow, which matplotlib
depends on, and written in the format its suffix names
(:data:`~numamove.render.files.PICTURE_FORMATS`) by
:mod:`numamove.render.files`, the one module here that writes a file.

Pure otherwise: imports numpy, Pillow, the rest of :mod:`numamove.render` and
:mod:`numamove.errors`; touches no kernel interface.
"""

from __future__ import annotations

import errno
import importlib.util
import itertools
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
from numamove.render.bands import DEFAULT_MIN_SIZE, fold_bands, highest_node, slice_table
from numamove.render.captions import SPLIT, band_label, flow, header_lines, reading_note, wrap_entries
from numamove.render.files import picture_format, save_picture
from numamove.render.palette import NOT_PRESENT_COLOR, SWAPPED_COLOR, ZERO_PAGE_COLOR, node_color

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

    from numamove.model import ProcessMemory
    from numamove.topology import Node

__all__ = ["render_png"]

# Picture layout, in pixels; type sizes are pixels per em.
_MARGIN = 14
_MIN_WIDTH_PX = 480
_MAX_BANDS = 1200
"""More bands than this: only the largest are drawn, so the picture stays a bounded size."""
_TITLE_PX, _HEADER_PX, _LEGEND_PX, _NOTE_PX, _RULER_PX = 17, 13, 12, 11, 10
_SWATCH = 12
_FRAME_RGB = np.array([0x8C, 0x8C, 0x8C], dtype=np.uint8)
_GRID_RGB = np.array([0xE4, 0xE4, 0xE4], dtype=np.uint8)
_NOTE_COLOR = "#555555"
_SHORTEST_BAND = 12
"""The length of a one-page band; the largest band spans the whole width, log scale between."""
_NARROWEST_CELL = 3
"""A cell (whole pages) is at least this wide, so neighbouring cells do not blur into one color."""


@dataclass(frozen=True)
class _Layout:
    row_px: int
    band_gap: int
    font_px: int


_ROOMY = _Layout(row_px=15, band_gap=7, font_px=11)
_COMPACT = _Layout(row_px=10, band_gap=3, font_px=9)
_COMPACT_FROM = 300
"""From this many bands on, thinner bands and smaller type, so the picture does not get too tall."""


def render_png(
    memory: ProcessMemory,
    path: str | os.PathLike[str],
    *,
    nodes: Sequence[Node] | None = None,
    width_px: int = 1600,
    min_size: int = DEFAULT_MIN_SIZE,
) -> None:
    """Draw where the pages of ``memory`` live as a picture ``width_px`` pixels wide.

    The format is the one ``path``'s suffix names
    (:data:`~numamove.render.files.PICTURE_FORMATS`: PNG, JPEG, WebP, TIFF,
    BMP); the file is written to a temporary name in the same folder and
    renamed, so a failure leaves no partial picture.

    One band per VMA with per-page data, in address order, labelled with its
    address range, kind ("THP" when transparent huge pages back some of it),
    size and file name; neighbouring mappings of one file, and runs of
    neighbouring bands smaller than ``min_size`` bytes, fold into one band
    ("N VMAs"); 0 draws every VMA alone. A band's
    length is its size on a log scale (a ruler above the bands reads it); its
    pages run left to right, a cell of whole pages in its node's color from
    :data:`~numamove.render.palette.NODE_COLORS`, white not present, light grey the zero page, dark
    grey swapped. A cell holding several kinds of pages is split top to bottom
    in their shares. The title gives totals per node; ``nodes`` (from
    :func:`numamove.nodes`) adds whether each node is memory only and its
    memory tier to the legend.

    Beyond 1200 bands only the largest 1200 are drawn (the header says how
    many were left out), which bounds the picture's height and memory.

    Raises UnsupportedError without matplotlib; InvalidInputError when no VMA
    has per-page data, ``width_px`` is below 480, ``min_size`` is negative,
    or ``path`` has another suffix or no folder to go in; KernelError when
    writing the file fails.
    """
    try:
        from PIL import Image, ImageDraw, ImageFont

        fonts = _matplotlib_fonts()
    except ImportError:
        raise UnsupportedError(getattr(errno, "ENOPKG", errno.ENOSYS),
                               "drawing a picture needs matplotlib: pip install 'numamove[plot]'") from None
    file_format = picture_format(path)
    if width_px < _MIN_WIDTH_PX:
        raise InvalidInputError(f"the picture must be at least {_MIN_WIDTH_PX} pixels wide, not {width_px}")
    if min_size < 0:
        raise InvalidInputError(f"min_size must not be negative, not {min_size}")
    found = fold_bands(memory, min_size)
    if not found:
        raise InvalidInputError("no VMA has per-page data to draw: scan with pages=True")
    vma_count = sum(len(band.vmas) for band in found)
    skipped = 0
    if len(found) > _MAX_BANDS:
        largest = sorted(range(len(found)), key=lambda i: found[i].size, reverse=True)
        skipped = len(found) - _MAX_BANDS
        found = [found[i] for i in sorted(largest[:_MAX_BANDS])]
    layout = _COMPACT if len(found) >= _COMPACT_FROM else _ROOMY
    max_node = highest_node(found)

    # matplotlib's own DejaVu Sans Mono, drawn by Pillow (a matplotlib dependency): Pillow lays out a
    # thousand labels in milliseconds, where matplotlib's Text artists take seconds and resample the
    # whole picture in floating point.
    regular = os.path.join(fonts, "DejaVuSansMono.ttf")
    label_font, header_font, legend_font, note_font, ruler_font = (
        ImageFont.truetype(regular, size) for size in (layout.font_px, _HEADER_PX, _LEGEND_PX, _NOTE_PX,
                                                       _RULER_PX))
    title_font = ImageFont.truetype(os.path.join(fonts, "DejaVuSansMono-Bold.ttf"), _TITLE_PX)

    char_px = _advance(label_font)
    label_chars = max(min(int(0.32 * width_px / char_px), 66), 30)
    x0 = _MARGIN + math.ceil(label_chars * char_px) + 10
    data_px = width_px - x0 - _MARGIN
    page_size = memory.page_size
    scale = _LogScale(page_size, max(band.size for band in found), data_px)

    # Count first: the header needs the totals before the bands can be placed.
    bands: list[_Drawn] = []
    totals = np.zeros(max_node + 4, dtype=np.int64)
    for band in found:
        nodes_of_pages, swapped = band.pages()
        length = scale.length(band.size)
        per_cell = max(1, math.ceil(len(nodes_of_pages) / max(1, length // _NARROWEST_CELL)))
        if per_cell > 12:  # a multiple of 12: interleaving over 2, 3, 4 or 6 nodes splits every cell alike
            per_cell = math.ceil(per_cell / 12) * 12
        table = slice_table(nodes_of_pages, swapped, math.ceil(len(nodes_of_pages) / per_cell), max_node,
                             per_slice=per_cell)
        totals += table.sum(axis=0)
        bands.append(_Drawn(band_label(band, label_chars), table, length))

    entries, legend = header_lines(memory, totals, max_node, vma_count, len(found), skipped,
                                    {node.id: node for node in nodes or ()})
    text_width = width_px - 2 * _MARGIN
    header = wrap_entries(entries, int(text_width / _advance(header_font)))
    legend_rows = flow(legend, text_width, _advance(legend_font))
    note = textwrap.wrap(reading_note(found, min_size), int(text_width / _advance(note_font)))

    title_y = _MARGIN + 9
    header_y = title_y + 24
    legend_y = header_y + 17 * len(header) + 8
    note_y = legend_y + 20 * len(legend_rows)
    ruler_y = note_y + 15 * len(note) + 24
    bands_y = ruler_y + 10
    pitch = layout.row_px + layout.band_gap
    height = bands_y + pitch * len(bands) + _MARGIN + (24 if len(bands) > 25 else 0)

    image = np.full((height, width_px, 3), 255, dtype=np.uint8)
    texts = [_Text(_MARGIN, title_y, f"pid {memory.pid} ({memory.name}): where its pages live", title_font)]
    texts += [_Text(_MARGIN, header_y + 17 * i, line, header_font) for i, line in enumerate(header)]
    split_colors = _rgb([*[node_color(n) for n in range(max_node + 1) if totals[n]][:3], NOT_PRESENT_COLOR])
    for row_index, row_entries in enumerate(legend_rows):
        middle = legend_y + 20 * row_index
        for x, (label, color) in row_entries:
            top, left = middle - _SWATCH // 2, _MARGIN + x
            _box(image, top, left, _SWATCH, _SWATCH, _rgb([NOT_PRESENT_COLOR if color == SPLIT else color]))
            if color == SPLIT:  # stripes of the nodes in this picture, as a split cell shows them
                stripes = np.arange(_SWATCH) * len(split_colors) // _SWATCH
                image[top:top + _SWATCH, left:left + _SWATCH] = split_colors[stripes][:, None, :]
            texts.append(_Text(_MARGIN + x + _SWATCH + 6, middle, label, legend_font))
    texts += [_Text(_MARGIN, note_y + 15 * i, line, note_font, _NOTE_COLOR) for i, line in enumerate(note)]

    # The ruler: a tick per power of 4 (or 16, when they would crowd), a faint line down through the bands.
    # Repeated under the bands of a tall picture.
    bottom_ruler = bands_y + pitch * len(bands) + 4 if len(bands) > 25 else None
    image[ruler_y, x0:x0 + data_px] = _FRAME_RGB
    if bottom_ruler is not None:
        image[bottom_ruler, x0:x0 + data_px] = _FRAME_RGB
    for size, x in scale.ticks(min_gap_px=7 * _advance(ruler_font) + 8):
        tick = human_bytes(size).replace(".0 ", " ")
        image[ruler_y - 4:ruler_y + 1, x0 + x] = _FRAME_RGB
        image[ruler_y + 2:(bottom_ruler or height - _MARGIN), x0 + x] = _GRID_RGB
        texts.append(_Text(x0 + x, ruler_y - 11, tick, ruler_font, _NOTE_COLOR, "mm"))
        if bottom_ruler is not None:
            image[bottom_ruler:bottom_ruler + 5, x0 + x] = _FRAME_RGB
            texts.append(_Text(x0 + x, bottom_ruler + 14, tick, ruler_font, _NOTE_COLOR, "mm"))
    texts.append(_Text(x0 - 8, ruler_y - 11, "size (log scale):", ruler_font, _NOTE_COLOR, "rm"))

    # Stacking order in a split cell, top to bottom: nodes by id, zero page, swapped, not present.
    order = np.array([*range(max_node + 1), max_node + 2, max_node + 1, max_node + 3], dtype=np.intp)
    lut = _rgb([node_color(n) for n in range(max_node + 1)]
               + [SWAPPED_COLOR, ZERO_PAGE_COLOR, NOT_PRESENT_COLOR])
    y = bands_y
    for drawn in bands:
        cells = len(drawn.table)
        # Each pixel row of a cell: the kind whose share of the cell's height covers it.
        shares = drawn.table[:, order].cumsum(axis=1) * layout.row_px / drawn.table.sum(axis=1, keepdims=True)
        rows = np.arange(layout.row_px) + 0.5
        kinds = order[np.minimum((np.rint(shares)[:, :, None] <= rows).sum(axis=1), len(order) - 1)]
        columns = np.arange(drawn.length, dtype=np.intp) * cells // drawn.length
        _box(image, y, x0, drawn.length, layout.row_px, lut[kinds[columns].T])
        # Cells 8 px wide or more get a line between them, so the pages of a small band can be counted.
        if drawn.length >= 8 * cells:
            image[y:y + layout.row_px, np.flatnonzero(np.diff(columns)) + 1 + x0] = _FRAME_RGB
        texts.append(_Text(_MARGIN, y + layout.row_px / 2, drawn.label, label_font))
        y += pitch

    picture = Image.fromarray(image, "RGB")
    del image  # the picture holds its own copy: only one full-size buffer from here on
    draw = ImageDraw.Draw(picture)
    for text in texts:
        draw.text((text.x, text.y), text.text, font=text.font, fill=text.color, anchor=text.anchor)
    save_picture(picture, path, file_format)


@dataclass(frozen=True)
class _Drawn:
    label: str
    table: npt.NDArray[np.int64]
    """Pages per cell (rows) and category (columns)."""
    length: int


@dataclass(frozen=True)
class _Text:
    x: float
    y: float
    """Pixels from the top; with the default anchor the text is centered on it vertically."""
    text: str
    font: FreeTypeFont
    color: str = "#000000"
    anchor: str = "lm"


class _LogScale:
    """Band lengths in pixels: one page is the shortest band, the largest band the whole width."""

    def __init__(self, page_size: int, largest: int, width_px: int) -> None:
        self.page_size = page_size
        self.width_px = width_px
        self.span = math.log(max(largest / page_size, 16))

    def position(self, size: int) -> int:
        fraction = math.log(max(size / self.page_size, 1)) / self.span
        return round(_SHORTEST_BAND + (self.width_px - _SHORTEST_BAND) * min(fraction, 1.0))

    def length(self, size: int) -> int:
        return max(self.position(size), _SHORTEST_BAND)

    def ticks(self, min_gap_px: float) -> list[tuple[int, int]]:
        """(size, x) of the ruler's ticks: the page size times powers of 4, or of 16 when 4 crowd."""
        for step in (4, 16, 256):
            sizes = [self.page_size * step ** k for k in range(int(self.span / math.log(step) + 1e-9) + 1)]
            xs = [self.position(size) - 1 for size in sizes]
            if all(b - a >= min_gap_px for a, b in itertools.pairwise(xs)):
                break
        return list(zip(sizes, xs, strict=True))


def _box(image: npt.NDArray[np.uint8], top: int, left: int, width: int, height: int,
         colors: npt.NDArray[np.uint8]) -> None:
    """Fill a box in a 1 px frame: ``colors`` holds one color, one per column, or one per pixel."""
    image[top - 1:top + height + 1, left - 1:left + width + 1] = _FRAME_RGB
    image[top:top + height, left:left + width] = colors if colors.ndim == 3 else colors[None, :, :]


def _matplotlib_fonts() -> str:
    """matplotlib's bundled font folder, found without importing matplotlib (seconds in a slow VM)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("matplotlib")
    return os.path.join(next(iter(spec.submodule_search_locations)), "mpl-data", "fonts", "ttf")


def _advance(font: FreeTypeFont) -> float:
    """The width in pixels of one character of the monospace ``font``."""
    return float(font.getlength("0" * 40)) / 40


def _rgb(colors: Sequence[str]) -> npt.NDArray[np.uint8]:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.uint8)
