"""The heatmap of a profile: heat by time and address, each address's memory node, and residency per node.

One picture, three panels:

- the heatmap: time in seconds on the x axis, addresses on the y axis (low
  addresses at the bottom), a cell's colour the heat of its address range in
  its time slice (mean per byte), with a colour bar in the profile's heat unit.
  The mapped ranges are stacked without the gaps between them (a white line
  marks each gap left out); a range gets rows by its size, above a floor, so a
  small mapping stays visible. Beside the middle of each mapping's band: its
  first address in hex and its name, where they fit (the most accessed
  mappings first), and a tick mark at the first address of each one labelled;
- beside it, a strip: each address row in the colour of the node that held
  most of its pages (white: not resident), with a legend of the nodes;
- below, resident memory per node over time (MiB against seconds, a line per
  node, in the node's colour).

:func:`render_heatmap` takes plain data (:class:`HeatmapData`) and returns a
:class:`HeatmapPicture`: a Pillow image, and where its panels are, for tests
and for a caller that marks things on it. Writing the file is
:func:`numamove.render.files.save_picture`'s.

Needs ``numamove[plot]`` (matplotlib, and Pillow with it), imported only when
:func:`render_heatmap` runs, with matplotlib's Agg canvas (no pyplot, no
global figure state). Pure otherwise: numpy, the palette, numamove.errors; no
file, no kernel interface.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from numamove.errors import InvalidInputError, UnsupportedError
from numamove.render.palette import NOT_PRESENT_COLOR, node_color

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from PIL.Image import Image as PilImage

__all__ = ["HEAT_COLORMAP", "HeatmapData", "HeatmapPicture", "IntervalHeat", "render_heatmap"]

HEAT_COLORMAP = "inferno"
"""matplotlib's colour map for heat: black for 0, pale yellow for the hottest."""
_EMPTY_COLOR = "#E8E8E8"
"""Time slices with no interval in them."""
_MAX_COLUMNS = 600
_MAX_FLOOR_ROWS = 24
_MIN_TICK_GAP_PX = 13
MIB = 1 << 20

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class IntervalHeat(Protocol):
    """One interval's regions: [begin, end) in seconds since the start, and sorted, disjoint regions."""

    @property
    def begin(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def starts(self) -> Ints: ...
    @property
    def ends(self) -> Ints: ...
    @property
    def heat(self) -> Floats: ...


@dataclass(frozen=True)
class HeatmapData:
    """What the heatmap shows, as plain data."""

    title: str
    """The picture's title, e.g. "pid 1234 (redis-server): softdirty profile"."""
    heat_unit: str
    intervals: Sequence[IntervalHeat]
    mappings: Sequence[tuple[int, int, str]]
    """The address ranges to show, (start, end, name): the process's mappings, and its regions' ranges."""
    placement: tuple[Ints, Ints, Ints]
    """(starts, ends, pages) of disjoint ranges: ``pages[i, node]`` resident pages of range i on each node."""
    usage_times: Floats
    """Seconds since the start, one per interval record."""
    usage_pages: Mapping[int, Floats]
    """Resident pages per node at each of ``usage_times``."""
    page_size: int = 4096


@dataclass
class HeatmapPicture:
    """The drawn picture and where its parts are, in pixels (left, top, right, bottom) from the top left."""

    image: PilImage
    boxes: dict[str, tuple[int, int, int, int]]
    """"heat", "strip", "colorbar", "usage", "legend", "usage_legend"."""
    row_low: Ints
    """Each address row's first address (row 0 is the bottom row)."""
    row_high: Ints
    time_range: tuple[float, float]
    labels: list[str] = field(default_factory=list)
    """The address axis's tick labels, bottom to top."""
    node_colors: dict[int, str] = field(default_factory=dict)

    def pixel(self, seconds: float, address: int) -> tuple[int, int] | None:
        """The pixel of the heatmap showing ``address`` at ``seconds``, None if it is not drawn."""
        row = int(np.searchsorted(self.row_low, address, side="right")) - 1
        if row < 0 or address >= self.row_high[row]:
            return None
        left, top, right, bottom = self.boxes["heat"]
        begin, end = self.time_range
        x = left + (seconds - begin) / (end - begin) * (right - left)
        y = bottom - (row + 0.5) * (bottom - top) / len(self.row_low)
        return int(x), int(y)


def render_heatmap(data: HeatmapData, *, width_px: int = 1400, height_px: int = 1000) -> HeatmapPicture:
    """Draw ``data``; raises UnsupportedError without matplotlib, InvalidInputError with nothing to draw."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
        from PIL import Image
    except ImportError:
        raise UnsupportedError(getattr(errno, "ENOPKG", errno.ENOSYS),
                               "drawing a heatmap needs matplotlib: pip install 'numamove[plot]'") from None
    if width_px < 600 or height_px < 500:
        raise InvalidInputError(f"the heatmap needs at least 600 x 500 pixels, not {width_px} x {height_px}")
    spans = _spans(data.mappings)
    if not spans or not data.intervals:
        raise InvalidInputError("nothing to draw: the profile has no interval with an address range")
    rows = max(60, int(height_px * 0.55))
    row_low, row_high, span_rows = _rows(spans, rows)
    times, grid = _grid(data.intervals, row_low, row_high)
    strip, nodes = _strip(data.placement, row_low, row_high)

    figure = Figure(figsize=(width_px / 100, height_px / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    layout = figure.add_gridspec(2, 3, width_ratios=[40, 1.6, 1.1], height_ratios=[3, 1], left=0.22,
                                 right=0.84, top=0.91, bottom=0.07, wspace=0.06, hspace=0.28)
    heat_axes = figure.add_subplot(layout[0, 0])
    strip_axes = figure.add_subplot(layout[0, 1], sharey=heat_axes)
    bar_axes = figure.add_subplot(layout[0, 2])
    usage_axes = figure.add_subplot(layout[1, 0], sharex=heat_axes)
    figure.suptitle(data.title, fontsize=13, fontweight="bold")

    peak = float(np.nanmax(grid)) if np.isfinite(grid).any() else 0.0
    colormap = _colormap()
    shown = heat_axes.imshow(grid, aspect="auto", origin="lower", extent=(times[0], times[1], 0, rows),
                             cmap=colormap, norm=Normalize(0.0, peak if peak > 0 else 1.0),
                             interpolation="nearest")
    for boundary in span_rows[1:-1]:  # a gap left out between two mapped ranges
        heat_axes.axhline(boundary, color="white", linewidth=0.8)
    heat_axes.set_title("heat by address over time (gaps between mapped ranges left out: white lines)",
                        fontsize=10)
    heat_axes.set_xlabel("time (s)")
    heat_axes.set_ylabel("address (hex) and mapping")
    ticks, labels, marks = _ticks(data.mappings, spans, row_low, row_high, np.nansum(grid, axis=1),
                                  rows_per_px=rows / (heat_axes.get_position().height * height_px))
    heat_axes.set_yticks(ticks, labels, fontsize=8, fontfamily="monospace")
    heat_axes.tick_params(axis="y", length=0)  # a label sits beside its band's middle, not on a boundary
    heat_axes.set_yticks(marks, minor=True)
    heat_axes.tick_params(axis="y", which="minor", length=4)
    heat_axes.set_ylim(0, rows)
    figure.colorbar(shown, cax=bar_axes, label=f"heat ({data.heat_unit})" if data.heat_unit else "heat")

    strip_axes.imshow(strip[:, None, :], aspect="auto", origin="lower", extent=(0, 1, 0, rows),
                      interpolation="nearest")
    strip_axes.set_xticks([])
    strip_axes.tick_params(axis="y", which="both", left=False, labelleft=False)
    strip_axes.set_title("node", fontsize=9)
    handles = [Patch(facecolor=node_color(node), edgecolor="#666666", label=f"node {node}") for node in nodes]
    handles.append(Patch(facecolor=NOT_PRESENT_COLOR, edgecolor="#666666", label="not resident"))
    legend = figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.895, 0.91), fontsize=9,
                           title="memory node\n(strip: most pages)", title_fontsize=9)

    for node, pages in sorted(data.usage_pages.items()):
        usage_axes.plot(data.usage_times, np.asarray(pages, dtype=np.float64) * data.page_size / MIB,
                        color=node_color(node), label=f"node {node}", linewidth=1.8,
                        marker="o" if len(data.usage_times) <= 30 else None, markersize=3)
    usage_axes.set_xlabel("time (s)")
    usage_axes.set_ylabel("resident (MiB)")
    usage_axes.set_title("resident memory per node", fontsize=10)
    usage_axes.grid(True, color="#DDDDDD", linewidth=0.6)
    usage_legend = usage_axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9) \
        if data.usage_pages else None
    usage_axes.set_ylim(bottom=0)

    canvas.draw()  # type: ignore[no-untyped-call]
    width, height = canvas.get_width_height()
    pixels = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    image = Image.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1).convert("RGB")
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]

    def box(artist: object) -> tuple[int, int, int, int]:
        extent = artist.get_window_extent(renderer)  # type: ignore[attr-defined]
        return (round(extent.x0), round(height - extent.y1), round(extent.x1), round(height - extent.y0))

    boxes = {"heat": box(heat_axes), "strip": box(strip_axes), "colorbar": box(bar_axes),
             "usage": box(usage_axes), "legend": box(legend)}
    if usage_legend is not None:
        boxes["usage_legend"] = box(usage_legend)
    return HeatmapPicture(image, boxes, row_low, row_high, times, labels,
                          {node: node_color(node) for node in nodes})


def _colormap() -> Colormap:
    from matplotlib import colormaps

    return colormaps[HEAT_COLORMAP].with_extremes(bad=_EMPTY_COLOR)


def _spans(mappings: Sequence[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """The mapped ranges, merged where they touch or overlap, in address order."""
    merged: list[tuple[int, int]] = []
    for start, end, _ in sorted(mappings):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _rows(spans: list[tuple[int, int]], rows: int) -> tuple[Ints, Ints, list[int]]:
    """Each row's address range: a span gets rows by its size, above a floor that keeps small ones visible.

    The floor is a third of the rows shared equally (at most ``_MAX_FLOOR_ROWS``
    each), so that a span's label fits beside it; none when spans outnumber rows.
    """
    sizes = np.array([end - start for start, end in spans], dtype=np.float64)
    base = min(rows // (3 * len(spans)), _MAX_FLOOR_ROWS) if rows >= 2 * len(spans) else 0
    share = (rows - base * len(spans)) * sizes / sizes.sum()
    counts = base + np.floor(share).astype(np.int64)
    counts[np.argsort(-(share - np.floor(share)))[:rows - int(counts.sum())]] += 1
    low: list[int] = []
    high: list[int] = []
    first_rows = [0]
    for (start, end), count in zip(spans, counts.tolist(), strict=True):
        count = min(count, end - start)  # never a row narrower than a byte
        edges = [start + (end - start) * k // count for k in range(count + 1)] if count else []
        low += edges[:-1]
        high += edges[1:]
        first_rows.append(first_rows[-1] + count)
    return np.array(low, dtype=np.int64), np.array(high, dtype=np.int64), first_rows


def _integral(starts: Ints, ends: Ints, density: Floats, points: Ints) -> Floats:
    """The integral of a piecewise constant density over addresses, from 0 to each of ``points``."""
    if not len(starts):
        return np.zeros(len(points))
    cumulative = np.concatenate([[0.0], np.cumsum(density * (ends - starts))])
    before = np.searchsorted(starts, points, side="right")
    last = np.maximum(before - 1, 0)
    partial = np.clip(points - starts[last], 0, ends[last] - starts[last]).astype(np.float64)
    return np.where(before > 0, cumulative[last] + density[last] * partial, 0.0)


def _grid(intervals: Sequence[IntervalHeat], low: Ints, high: Ints) -> tuple[tuple[float, float], Floats]:
    """Mean heat per row and time slice; NaN where no interval falls in a slice."""
    begin = min(interval.begin for interval in intervals)
    end = max(interval.end for interval in intervals)
    if end <= begin:
        end = begin + 1.0
    columns = min(len(intervals), _MAX_COLUMNS)
    edges = np.linspace(begin, end, columns + 1)
    total = np.zeros((len(low), columns))
    weight = np.zeros(columns)
    width = (high - low).astype(np.float64)
    for interval in intervals:
        heat = (_integral(interval.starts, interval.ends, interval.heat, high)
                - _integral(interval.starts, interval.ends, interval.heat, low)) / width
        overlap = np.clip(np.minimum(edges[1:], interval.end) - np.maximum(edges[:-1], interval.begin), 0.0,
                          None)
        if interval.end <= interval.begin:  # a zero-length interval counts in its own slice
            overlap[min(int(np.searchsorted(edges, interval.begin, side="right")) - 1, columns - 1)] = 1e-9
        used = np.flatnonzero(overlap > 0)
        total[:, used] += heat[:, None] * overlap[used]
        weight[used] += overlap[used]
    grid = np.full_like(total, np.nan)
    np.divide(total, weight, out=grid, where=weight > 0)
    return (begin, end), grid


def _strip(placement: tuple[Ints, Ints, Ints], low: Ints, high: Ints
           ) -> tuple[npt.NDArray[np.uint8], list[int]]:
    """Each row's colour (the node with most of its pages; white if none) and the nodes that appear."""
    starts, ends, pages = placement
    order = np.argsort(starts, kind="stable")
    starts, ends, pages = starts[order], ends[order], np.atleast_2d(pages)[order] if len(order) else pages
    per_node = np.zeros((len(low), pages.shape[1] if pages.ndim == 2 else 0))
    size = (ends - starts).astype(np.float64)
    for node in range(per_node.shape[1]):
        density = pages[:, node] / np.maximum(size, 1)
        per_node[:, node] = _integral(starts, ends, density, high) - _integral(starts, ends, density, low)
    lut = np.array([_rgb(NOT_PRESENT_COLOR)] + [_rgb(node_color(n)) for n in range(per_node.shape[1])],
                   dtype=np.uint8)
    winner = np.where(per_node.sum(axis=1) > 1e-9, per_node.argmax(axis=1) + 1, 0) if per_node.shape[1] \
        else np.zeros(len(low), dtype=np.int64)
    return lut[winner], sorted({int(w) - 1 for w in np.unique(winner) if w > 0})


def _ticks(mappings: Sequence[tuple[int, int, str]], spans: list[tuple[int, int]], low: Ints, high: Ints,
           row_heat: Floats, rows_per_px: float) -> tuple[list[float], list[str], list[float]]:
    """Labels beside the middle of each mapping's band (its first address and name), the most accessed
    and then the largest first, where they fit; and a tick mark at each labelled mapping's first address."""
    def position(address: int) -> float:
        row = int(np.searchsorted(low, address, side="right")) - 1
        if row < 0:
            return 0.0
        return row + min((address - int(low[row])) / max(int(high[row] - low[row]), 1), 1.0)

    largest: dict[int, tuple[int, str]] = {}
    for start, end, name in mappings:
        if name and end - start > largest.get(start, (0, ""))[0]:
            largest[start] = (end - start, name)
    bands = [(start, start + size, name) for start, (size, name) in largest.items()] or [
        (start, end, "") for start, end in spans]
    cumulative = np.concatenate([[0.0], np.cumsum(row_heat)])
    candidates = []
    for start, end, name in bands:
        bottom, top = position(start), position(end)
        heat = cumulative[min(int(np.ceil(top)), len(row_heat))] - cumulative[int(bottom)]
        candidates.append((-heat, start - end, (bottom + top) / 2, start, name))
    gap = _MIN_TICK_GAP_PX * rows_per_px
    chosen: list[tuple[float, str, float]] = []
    for _, _, middle, start, name in sorted(candidates):
        if all(abs(middle - taken) >= gap for taken, _, _ in chosen):
            chosen.append((middle, f"{start:#x} {_short(name)}".rstrip(), position(start)))
    chosen.sort()
    return [middle for middle, _, _ in chosen], [label for _, label, _ in chosen], [b for _, _, b in chosen]


def _short(name: str, limit: int = 18) -> str:
    name = name.rstrip("/").rsplit("/", 1)[-1]
    return name if len(name) <= limit else name[:limit - 1] + "…"


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
