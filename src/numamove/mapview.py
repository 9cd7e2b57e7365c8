"""Pictures of where a process's pages live: a picture file and a compact text strip.

Both views draw one band (or line) per VMA that carries per-page data
(``Vma.pages``), in address order. Neighbouring mappings of one file fold into
one band, and so do runs of neighbouring bands smaller than ``min_size``, each
labelled with its count of VMAs, so a process of hundreds of small library
mappings still fits a screen (``min_size=0`` draws every VMA alone).

In the picture a band's length shows its size on a log scale (a ruler above
the bands reads it), and the band is cut into cells of whole pages; a cell
whose pages are of several kinds (nodes, not present, ...) is split top to
bottom in their shares, so page-level interleaving shows as stripes of the
nodes' own colors. In the text strip a character shows the majority of its
slice of pages: the category with the most pages wins, ties going to a node
(the lowest id), then swapped, then zero page, then not present; the zero page
wins only a slice it fills more than half of; a node that wins with less
than 3/4 of the slice's pages on nodes shows as "~" (several nodes).
Counting is vectorised and done in chunks, so a VMA of millions of pages costs
a few bincounts and a bounded amount of memory.

The picture needs ``numamove[plot]`` (matplotlib), imported only when
:func:`render_png` runs. It is composed as one RGB array with numpy, its text
drawn with matplotlib's DejaVu Sans Mono through Pillow, which matplotlib
depends on, and written in the format its suffix names (:data:`PICTURE_FORMATS`).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import itertools
import math
import os
import re
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from numamove._format import human_bytes
from numamove.errors import InvalidInputError, KernelError, UnsupportedError

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage
    from PIL.ImageFont import FreeTypeFont

    from numamove.placement import ProcessMemory, Vma
    from numamove.topology import Node

__all__ = [
    "DEFAULT_MIN_SIZE",
    "NODE_COLORS",
    "NOT_PRESENT_COLOR",
    "PICTURE_FORMATS",
    "SWAPPED_COLOR",
    "ZERO_PAGE_COLOR",
    "node_char",
    "node_color",
    "parse_size",
    "picture_format",
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

PICTURE_FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP",
}
"""The picture file suffixes :func:`render_png` writes, and the Pillow format each names."""
DEFAULT_MIN_SIZE = 64 * 1024
"""Neighbouring VMAs smaller than this (bytes) fold into one band by default."""

_NOT_PRESENT = -errno.ENOENT
_ZERO_PAGE = -errno.EFAULT
_NODE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MIXED_CHAR = "~"
# Pages counted per numpy pass: bounds the temporaries for VMAs of millions of pages.
_CHUNK = 1 << 20

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
_SPLIT = "split"
"""The legend entry of a cell split between kinds of pages: its swatch is striped."""


@dataclass(frozen=True)
class _Layout:
    row_px: int
    band_gap: int
    font_px: int


_ROOMY = _Layout(row_px=15, band_gap=7, font_px=11)
_COMPACT = _Layout(row_px=10, band_gap=3, font_px=9)
_COMPACT_FROM = 300
"""From this many bands on, thinner bands and smaller type, so the picture does not get too tall."""


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



def parse_size(text: str) -> int:
    """ "64K", "64KiB", "1.5M", "4096" -> bytes (binary units: K = 1024); "0" is 0."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE | re.ASCII)
    if match is None:
        raise InvalidInputError(f"size {text!r} is not a number of bytes with an optional K, M, G or T")
    return int(float(match[1]) * 1024 ** " KMGT".index(match[2].upper() or " "))


def picture_format(path: str | os.PathLike[str]) -> str:
    """The Pillow format ``path``'s suffix names, once its folder is known to exist.

    Raises InvalidInputError naming the path when the suffix is not one of
    :data:`PICTURE_FORMATS`, the folder does not exist, or the path is a folder.
    """
    text = os.fspath(path)
    if not text:
        raise InvalidInputError("the picture's path is empty: give a file name such as map.png")
    target = os.path.realpath(text)
    if os.path.isdir(target):
        raise InvalidInputError(f"{text}: is a directory")
    suffix = os.path.splitext(text)[1].lower()
    if suffix not in PICTURE_FORMATS:
        raise InvalidInputError(f"{text}: cannot write {suffix or 'a picture without a suffix'}; "
                                f"the picture's suffix must be one of {', '.join(PICTURE_FORMATS)}")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise InvalidInputError(f"{text}: the directory {folder} does not exist")
    return PICTURE_FORMATS[suffix]


def render_text(memory: ProcessMemory, width: int = 80, *, min_size: int = DEFAULT_MIN_SIZE) -> list[str]:
    """One line per band, then a legend, each at most ``width`` characters (20 or more).

    A line is the band's first address in hex (never shortened), its kind (or
    "N VMAs" for neighbouring mappings of one file, or a run of neighbours
    under ``min_size`` bytes, folded; 0 folds nothing),
    its size, then a strip: a character per page when the band fits, else per
    slice of pages (its majority): the node's :func:`node_char`, "~" several
    nodes, "." not present, "z" zero page, "s" swapped. Below about 40
    characters the strip goes on a line of its own. Plain text; color it with
    :func:`node_color` if wanted.
    """
    bands = _bands(memory, min_size)
    if not bands:
        return ["(no VMA has per-page data)"]
    width = max(width, 20)
    max_node = _max_node(bands)
    chars = np.array([node_char(n) for n in range(max_node + 1)] + ["s", "z", ".", _MIXED_CHAR])
    columns = [(f"{band.low:012x}", band.kind_text(), human_bytes(band.size)) for band in bands]
    kind_width = max(len(kind) for _address, kind, _size in columns)
    size_width = max(len(size) for _address, _kind, size in columns)
    lines = []
    seen: set[int] = set()
    for band, (address, kind, size) in zip(bands, columns, strict=True):
        label = f"{address} {kind:<{kind_width}} {size:>{size_width}} "
        own_line = width - len(label) < 6  # a narrow terminal: the strip gets a line of its own
        strip_width = width - 2 if own_line else width - len(label)
        nodes, swapped = band.pages()
        table = _slice_table(nodes, swapped, min(len(nodes), strip_width), max_node)
        seen.update(n for n in range(max_node + 1) if table[:, n].any())
        strip = "".join(chars[_majority(table, max_node)].tolist())
        lines.extend([label.rstrip(), "  " + strip] if own_line else [label + strip])
    legend = [*(f"{node_char(n)} node {n}" for n in sorted(seen)),
              f"{_MIXED_CHAR} several nodes (none has 3/4)", ". not present", "z zero page", "s swapped"]
    if any(len(band.vmas) > 1 for band in bands):
        legend.append(f"N VMAs: one file's mappings, or neighbours under {human_bytes(min_size)}, folded")
    legend.append("(a wide band: a character is a slice's majority)")
    lines.extend(textwrap.wrap("  ".join(legend), width, break_on_hyphens=False))
    return lines


def render_png(
    memory: ProcessMemory,
    path: str | os.PathLike[str],
    *,
    nodes: Sequence[Node] | None = None,
    width_px: int = 1600,
    min_size: int = DEFAULT_MIN_SIZE,
) -> None:
    """Draw where the pages of ``memory`` live as a picture ``width_px`` pixels wide.

    The format is the one ``path``'s suffix names (:data:`PICTURE_FORMATS`:
    PNG, JPEG, WebP, TIFF, BMP); the file is written to a temporary name in
    the same folder and renamed, so a failure leaves no partial picture.

    One band per VMA with per-page data, in address order, labelled with its
    address range, kind ("THP" when transparent huge pages back some of it),
    size and file name; neighbouring mappings of one file, and runs of
    neighbouring bands smaller than ``min_size`` bytes, fold into one band
    ("N VMAs"); 0 draws every VMA alone. A band's
    length is its size on a log scale (a ruler above the bands reads it); its
    pages run left to right, a cell of whole pages in its node's color from
    :data:`NODE_COLORS`, white not present, light grey the zero page, dark
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
    found = _bands(memory, min_size)
    if not found:
        raise InvalidInputError("no VMA has per-page data to draw: scan with pages=True")
    vma_count = sum(len(band.vmas) for band in found)
    skipped = 0
    if len(found) > _MAX_BANDS:
        largest = sorted(range(len(found)), key=lambda i: found[i].size, reverse=True)
        skipped = len(found) - _MAX_BANDS
        found = [found[i] for i in sorted(largest[:_MAX_BANDS])]
    layout = _COMPACT if len(found) >= _COMPACT_FROM else _ROOMY
    max_node = _max_node(found)

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
        table = _slice_table(nodes_of_pages, swapped, math.ceil(len(nodes_of_pages) / per_cell), max_node,
                             per_slice=per_cell)
        totals += table.sum(axis=0)
        bands.append(_Drawn(_band_label(band, label_chars), table, length))

    entries, legend = _header_lines(memory, totals, max_node, vma_count, len(found), skipped,
                                    {node.id: node for node in nodes or ()})
    text_width = width_px - 2 * _MARGIN
    header = _wrap_entries(entries, int(text_width / _advance(header_font)))
    legend_rows = _flow(legend, text_width, _advance(legend_font))
    note = textwrap.wrap(_reading_note(found, min_size), int(text_width / _advance(note_font)))

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
            _box(image, top, left, _SWATCH, _SWATCH, _rgb([NOT_PRESENT_COLOR if color == _SPLIT else color]))
            if color == _SPLIT:  # stripes of the nodes in this picture, as a split cell shows them
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
    _save(picture, path, file_format)


def _save(picture: PilImage, path: str | os.PathLike[str], file_format: str) -> None:
    """Write to a new file beside ``path``, then rename it over ``path``: no half-written picture."""
    target = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    # Flat colors: fast zlib for PNG; no chroma subsampling in JPEG, so thin stripes keep their colors.
    by_format: dict[str, dict[str, Any]] = {"PNG": {"compress_level": 1}, "WEBP": {"lossless": True},
                                            "JPEG": {"quality": 92, "subsampling": 0}}
    options = by_format.get(file_format, {})
    created = False
    try:
        # 0o666 less the umask, as any new file; mkstemp would make it private (0o600).
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        created = True
        with os.fdopen(descriptor, "wb") as file:
            picture.save(file, format=file_format, **options)
        os.replace(temporary, target)
        created = False
    except OSError as error:
        raise KernelError(error.errno or errno.EIO,
                          f"cannot write {os.fspath(path)}: {error.strerror or error}", "") from None
    finally:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


@dataclass(frozen=True)
class _Band:
    """One VMA, or a run of neighbouring small VMAs folded together, with the range their pages cover."""

    vmas: tuple[Vma, ...]
    low: int
    high: int
    size: int
    """Bytes the band stands for: the sum of its VMAs' scanned ranges."""

    def pages(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
        """The band's per-page nodes and swapped flags, in address order."""
        placements = [vma.pages for vma in self.vmas if vma.pages is not None]
        if len(placements) == 1:
            return placements[0].nodes, placements[0].swapped
        return np.concatenate([p.nodes for p in placements]), np.concatenate([p.swapped for p in placements])

    def kind_text(self) -> str:
        if len(self.vmas) > 1:
            return f"{len(self.vmas)} VMAs"
        vma = self.vmas[0]
        return f"{vma.kind.value} THP" if vma.thp_pages else vma.kind.value


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


def _reading_note(bands: Sequence[_Band], min_size: int) -> str:
    note = ("Each band is one VMA, its pages from left to right in address order; its length is its size on "
            "a log scale (ruler above: each step is 4 or 16 times the last), its exact size in its label")
    if any(len(band.vmas) > 1 for band in bands):
        note += ("; \"N VMAs\" is one file's neighbouring mappings, or neighbours under "
                 f"{human_bytes(min_size)}, folded into one band (--all-vmas draws each)")
    note += ("; a cell holding pages of several kinds (nodes, not present, ...) is split top to bottom in "
             "their shares, so interleaved pages show as stripes; \"THP\": transparent huge pages back part "
             "of the VMA")
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


def _bands(memory: ProcessMemory, min_size: int) -> list[_Band]:
    """The VMAs with per-page data in address order, folded unless ``min_size`` is 0.

    Folding: neighbouring mappings of one file (a library's code, data, ...)
    make one band, then runs of neighbouring bands under ``min_size`` bytes.
    """
    found = []
    for vma in memory.vmas:
        if vma.pages is None or len(vma.pages.nodes) == 0:
            continue
        low, high = vma.scanned or (vma.start, vma.end)
        if len(vma.pages.addresses) and not vma.pages.present_only:
            low = int(vma.pages.addresses[0])
            high = int(vma.pages.addresses[-1]) + memory.page_size
        found.append(_Band((vma,), low, high, high - low))
    found.sort(key=lambda band: band.low)
    if min_size <= 0:
        return found
    by_file: list[list[_Band]] = []
    for band in found:
        vma = band.vmas[0]
        previous = by_file[-1][-1].vmas[0] if by_file else None
        same_file = (previous is not None and vma.kind.value == "file" and previous.kind == vma.kind
                     and previous.path == vma.path)
        if same_file:
            by_file[-1].append(band)
        else:
            by_file.append([band])
    runs: list[list[_Band]] = []
    for group in map(_merge, by_file):
        if runs and group.size < min_size and runs[-1][-1].size < min_size:
            runs[-1].append(group)
        else:
            runs.append([group])
    return [_merge(run) for run in runs]


def _merge(parts: Sequence[_Band]) -> _Band:
    if len(parts) == 1:
        return parts[0]
    return _Band(tuple(vma for part in parts for vma in part.vmas), parts[0].low, parts[-1].high,
                 sum(part.size for part in parts))


def _max_node(bands: Sequence[_Band]) -> int:
    highest = -1
    for band in bands:
        for vma in band.vmas:
            assert vma.pages is not None
            highest = max(highest, int(vma.pages.nodes.max()))
    return highest


def _slice_table(nodes: npt.NDArray[np.int32], swapped: npt.NDArray[np.bool_], slices: int, max_node: int,
                 per_slice: int = 0) -> npt.NDArray[np.int64]:
    """Pages per slice (rows) and category (columns) for ``slices`` slices of the pages in order.

    Categories: node ids 0..max_node, then swapped, zero page, not present
    (max_node + 1, + 2, + 3). Slices hold ``per_slice`` pages each (the last
    the rest) or, without it, as equal shares as whole pages allow.
    """
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
        pages = np.arange(low, high, dtype=np.int64)
        # Without per_slice, page i belongs to slice i * slices // count: slices differ by at most one page.
        index = pages // per_slice if per_slice else pages * slices // count
        counts += np.bincount(index * kinds + category, minlength=slices * kinds)
    return counts.reshape(slices, kinds)


def _majority(table: npt.NDArray[np.int64], max_node: int) -> npt.NDArray[np.intp]:
    """The winning category of each slice; max_node + 4 where a node wins with under 3/4 of the node pages."""
    zero_cat = max_node + 2
    contest = table.copy()
    # The zero page is "read but never written": show it only where it is most of the slice.
    contest[contest[:, zero_cat] * 2 <= table.sum(axis=1), zero_cat] = -1
    winner: npt.NDArray[np.intp] = np.argmax(contest, axis=1).astype(np.intp)
    on_nodes = table[:, :max_node + 1].sum(axis=1)
    won = table[np.arange(len(table)), winner]
    winner[(winner <= max_node) & (won * 4 < on_nodes * 3)] = max_node + 4
    return winner


def _header_lines(
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
               ("mixed: a cell split in the shares of its pages", _SPLIT)]
    return entries, legend


def _node_label(node: int, by_id: dict[int, Node]) -> str:
    info = by_id.get(node)
    if info is None:
        return f"node {node}"
    parts = ["memory only" if info.memory_only else "with CPUs"]
    if info.tier is not None:
        parts.append(f"tier {info.tier}")
    return f"node {node} ({', '.join(parts)})"


def _band_label(band: _Band, limit: int) -> str:
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
