"""The profile heatmap (numamove.render.heatmap), checked on its pixels, and ``numamove report --heatmap``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner
from PIL import Image

from numamove.cli import main
from numamove.errors import InvalidInputError
from numamove.render.heatmap import HEAT_COLORMAP, HeatmapData, HeatmapPicture, render_heatmap
from numamove.render.palette import NOT_PRESENT_COLOR, node_color

from .test_report import hot_set_log

MIB = 1 << 20
PAGE = 4096
HOT = 0x7F0000000000
COLD = HOT + 16 * MIB
HEAP = 0x1000000  # a terabyte-wide gap below the others: compacted away


@dataclass(frozen=True)
class Interval:
    begin: float
    end: float
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    heat: npt.NDArray[np.float64]


def data(intervals: int = 10) -> HeatmapData:
    """The hot range has heat 4 for the first half of the run and 0 after; the heap 1 throughout."""
    found = []
    for index in range(intervals):
        hot = 4.0 if index < intervals // 2 else 0.0
        found.append(Interval(float(index), index + 1.0, np.array([HEAP, HOT, COLD], dtype=np.int64),
                              np.array([HEAP + MIB, COLD, COLD + 64 * MIB], dtype=np.int64),
                              np.array([1.0, hot, 0.0])))
    placement = (np.array([HOT, COLD, HEAP], dtype=np.int64), np.array([COLD, COLD + 64 * MIB, HEAP + MIB]),
                 np.array([[0, 4096], [16384, 0], [0, 0]], dtype=np.int64))
    return HeatmapData(
        title="pid 42 (hotset): softdirty profile", heat_unit="pages written per interval", intervals=found,
        mappings=[(HEAP, HEAP + MIB, "[heap]"), (HOT, COLD, "[anon]"), (COLD, COLD + 64 * MIB, "[anon]")],
        placement=placement, usage_times=np.arange(1.0, intervals + 1),
        usage_pages={0: np.full(intervals, 16384.0), 1: np.linspace(0, 4096, intervals)}, page_size=PAGE)


@pytest.fixture(scope="module")
def picture() -> HeatmapPicture:
    return render_heatmap(data())


def rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def heat_rgb(fraction: float) -> tuple[int, int, int]:
    from matplotlib import colormaps

    red, green, blue, _ = colormaps[HEAT_COLORMAP](fraction)
    return round(red * 255), round(green * 255), round(blue * 255)


def close(pixel: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 3) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


def colors_in(image: Image.Image, box: tuple[int, int, int, int]) -> set[tuple[int, int, int]]:
    pixels = np.asarray(image.crop(box)).reshape(-1, 3)
    return {tuple(int(v) for v in row) for row in np.unique(pixels, axis=0)}  # type: ignore[misc]


def test_the_picture_has_its_size_and_every_panel(picture: HeatmapPicture) -> None:
    assert picture.image.size == (1400, 1000) and picture.image.mode == "RGB"
    heat, strip, bar, usage = (picture.boxes[name] for name in ("heat", "strip", "colorbar", "usage"))
    assert heat[2] < strip[0] < strip[2] < bar[0]  # heatmap, then the node strip, then the colour bar
    assert usage[1] > heat[3]  # below, aligned with it
    assert abs(usage[0] - heat[0]) <= 1 and abs(usage[2] - heat[2]) <= 1
    assert heat[2] - heat[0] > 700 and heat[3] - heat[1] > 400


def test_the_hot_band_has_the_hot_colour_while_hot_and_the_cold_colour_after(picture: HeatmapPicture) -> None:
    image = picture.image
    early, late = picture.pixel(2.5, HOT + 8 * MIB), picture.pixel(7.5, HOT + 8 * MIB)
    assert early is not None and late is not None
    assert close(image.getpixel(early), heat_rgb(1.0))  # type: ignore[arg-type]
    assert close(image.getpixel(late), heat_rgb(0.0))  # type: ignore[arg-type]
    cold = picture.pixel(2.5, COLD + 32 * MIB)
    heap = picture.pixel(2.5, HEAP + MIB // 2)
    assert cold is not None and heap is not None
    assert close(image.getpixel(cold), heat_rgb(0.0))  # type: ignore[arg-type]
    assert close(image.getpixel(heap), heat_rgb(0.25))  # type: ignore[arg-type]
    # Along the whole hot band, at an early time: the hot colour, from its bottom to its top.
    for address in range(HOT + MIB // 2, COLD, MIB):
        point = picture.pixel(1.5, address)
        assert point is not None and close(image.getpixel(point), heat_rgb(1.0)), hex(address)  # type: ignore[arg-type]


def test_gaps_between_mappings_are_left_out_and_small_mappings_stay_visible(picture: HeatmapPicture) -> None:
    assert picture.pixel(2.5, HEAP + 2 * MIB) is None and picture.pixel(2.5, HOT - PAGE) is None
    heap_rows = int(((picture.row_low >= HEAP) & (picture.row_high <= HEAP + MIB)).sum())
    hot_rows = int(((picture.row_low >= HOT) & (picture.row_high <= COLD)).sum())
    cold_rows = int(((picture.row_low >= COLD) & (picture.row_high <= COLD + 64 * MIB)).sum())
    assert heap_rows >= 20  # 1 MiB of 81 MiB, a terabyte away: still a band one can see
    assert cold_rows > 3 * hot_rows > 0  # larger mappings get more rows
    assert heap_rows + hot_rows + cold_rows == len(picture.row_low)
    assert picture.labels[0] == "0x1000000 [heap]" and f"{HOT:#x} [anon]" in picture.labels


def test_the_node_strip_shows_each_ranges_node_and_the_legend_names_them(picture: HeatmapPicture) -> None:
    image = picture.image
    left, _, right, _ = picture.boxes["strip"]
    middle = (left + right) // 2
    for address, color in ((HOT + 8 * MIB, node_color(1)), (COLD + 32 * MIB, node_color(0)),
                           (HEAP + MIB // 2, NOT_PRESENT_COLOR)):
        point = picture.pixel(0.5, address)
        assert point is not None
        assert close(image.getpixel((middle, point[1])), rgb(color)), hex(address)  # type: ignore[arg-type]
    legend = colors_in(image, picture.boxes["legend"])
    assert rgb(node_color(0)) in legend and rgb(node_color(1)) in legend
    assert picture.node_colors == {0: node_color(0), 1: node_color(1)}


def test_usage_lines_are_drawn_in_the_nodes_colours(picture: HeatmapPicture) -> None:
    usage = colors_in(picture.image, picture.boxes["usage"])
    assert rgb(node_color(0)) in usage and rgb(node_color(1)) in usage
    assert rgb(node_color(2)) not in usage
    legend = colors_in(picture.image, picture.boxes["usage_legend"])
    assert rgb(node_color(0)) in legend and rgb(node_color(1)) in legend


def test_the_colour_bar_runs_from_cold_to_hot(picture: HeatmapPicture) -> None:
    left, top, right, bottom = picture.boxes["colorbar"]
    middle = (left + right) // 2
    assert close(picture.image.getpixel((middle, top + 2)), heat_rgb(1.0), 6)  # type: ignore[arg-type]
    assert close(picture.image.getpixel((middle, bottom - 2)), heat_rgb(0.0), 6)  # type: ignore[arg-type]


def test_many_intervals_are_binned_into_a_bounded_number_of_columns() -> None:
    picture = render_heatmap(data(intervals=2000), width_px=900, height_px=700)
    assert picture.image.size == (900, 700) and picture.time_range == (0.0, 2000.0)
    early, late = picture.pixel(10.0, HOT + MIB), picture.pixel(1990.0, HOT + MIB)
    assert early is not None and late is not None
    assert close(picture.image.getpixel(early), heat_rgb(1.0))  # type: ignore[arg-type]
    assert close(picture.image.getpixel(late), heat_rgb(0.0))  # type: ignore[arg-type]


def test_nothing_to_draw_is_refused() -> None:
    empty = HeatmapData(title="t", heat_unit="", intervals=[], mappings=[], placement=(
        np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.int64)),
        usage_times=np.empty(0), usage_pages={})
    with pytest.raises(InvalidInputError, match="nothing to draw"):
        render_heatmap(empty)
    with pytest.raises(InvalidInputError, match="at least 600 x 500 pixels"):
        render_heatmap(data(), width_px=300)


def test_report_heatmap_writes_the_picture(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_text("\n".join(json.dumps(record) for record in hot_set_log(intervals=8)) + "\n")
    out = tmp_path / "heat.png"
    result = CliRunner().invoke(main, ["report", str(log), "--json", "--heatmap", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pid"] == 42 and f"wrote {out}" in result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1400, 1000)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    hot = np.all(np.abs(pixels.astype(int) - heat_rgb(1.0)) <= 3, axis=1).sum()
    assert hot > 50_000  # the hot band, over the whole run
    assert np.all(pixels == rgb(node_color(1)), axis=1).sum() > 500  # its node in the strip and legend
    missing = CliRunner().invoke(main, ["report", str(log), "--heatmap", str(out), "--pid", "7"])
    assert missing.exit_code == 1
    assert "--pid 7: the log has no such process (its processes: 42)" in missing.stderr
