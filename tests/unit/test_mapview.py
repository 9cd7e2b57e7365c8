from __future__ import annotations

import builtins
import errno
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from numamove.errors import InvalidInputError, KernelError, UnsupportedError
from numamove.model import PagePlacement, ProcessMemory, Vma, VmaKind
from numamove.render import (
    NODE_COLORS,
    NOT_PRESENT_COLOR,
    SWAPPED_COLOR,
    ZERO_PAGE_COLOR,
    node_char,
    node_color,
    parse_size,
    render_png,
    render_text,
)
from numamove.topology import Node

PAGE = 4096
NOT_PRESENT = -errno.ENOENT
ZERO_PAGE = -errno.EFAULT
LARGE, SMALL, ALTERNATING = 0x7F00_0000_0000, 0x7F10_0000_0000, 0x7F20_0000_0000


def make_vma(start: int, nodes: Sequence[int] | npt.NDArray[np.int32], kind: VmaKind = VmaKind.ANON,
             path: str = "", swapped: npt.NDArray[np.bool_] | None = None) -> Vma:
    node_array = np.asarray(nodes, dtype=np.int32)
    count = len(node_array)
    present = node_array[node_array >= 0]
    counts = np.bincount(present) if len(present) else np.empty(0, np.intp)
    return Vma(
        start=start, end=start + count * PAGE, perms="rw-p", offset=0, path=path, kind=kind,
        policy="default", page_size=PAGE,
        pages_by_node={node: int(c) for node, c in enumerate(counts) if c},
        pages=PagePlacement(
            addresses=np.uint64(start) + np.arange(count, dtype=np.uint64) * np.uint64(PAGE),
            nodes=node_array,
            swapped=np.zeros(count, dtype=np.bool_) if swapped is None else swapped,
        ),
    )


def make_memory(vmas: list[Vma]) -> ProcessMemory:
    return ProcessMemory(pid=4242, name="worker", vmas=vmas, threads=[], method="pagemap", page_size=PAGE)


@pytest.fixture
def memory() -> ProcessMemory:
    """100,000 pages, half on node 0 then half on node 2; 5 pages, one not present; 0 and 3 in turn."""
    large = np.repeat(np.array([0, 2], dtype=np.int32), 50_000)
    alternating = np.tile(np.array([0, 3], dtype=np.int32), 20)
    return make_memory([
        # Out of address order on purpose: both views sort by address.
        make_vma(ALTERNATING, alternating, VmaKind.FILE, "/usr/lib/x86_64-linux-gnu/libfoo.so.1"),
        make_vma(LARGE, large, VmaKind.HEAP, "[heap]"),
        make_vma(SMALL, [0, 0, NOT_PRESENT, 0, 0]),
    ])


def strips(lines: list[str]) -> dict[int, str]:
    """The strip of each band's line ("address kind size strip"), by the band's start address."""
    found = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 5 and re.fullmatch(r"[0-9a-f]{12,16}", parts[0]):
            found[int(parts[0], 16)] = parts[-1]
    return found


def rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def read_png(path: Path) -> npt.NDArray[np.uint8]:
    from PIL import Image

    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.uint8)


def colors_in(image: npt.NDArray[np.uint8]) -> set[tuple[int, int, int]]:
    return {(int(r), int(g), int(b)) for r, g, b in np.unique(image.reshape(-1, 3), axis=0)}


def test_text_one_line_per_vma_in_address_order_then_a_legend(memory: ProcessMemory) -> None:
    lines = render_text(memory, width=80)
    assert [int(line[:12], 16) for line in lines[:3]] == [LARGE, SMALL, ALTERNATING]
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split()[1] == "heap" and lines[2].split()[1] == "file"
    legend = lines[3:]
    assert len(legend) == 2
    assert "0 node 0" in legend[0] and "2 node 2" in legend[0] and "3 node 3" in legend[0]
    assert "1 node 1" not in legend[0]
    keys = (". not present", "z zero page", "s swapped", "~ several nodes")
    assert all(key in " ".join(legend) for key in keys)


def test_text_large_vma_shows_node_0_then_node_2(memory: ProcessMemory) -> None:
    lines = render_text(memory, width=80)
    strip = strips(lines)[LARGE]
    assert len(lines[0]) == 80 and lines[0].endswith(strip)
    assert re.fullmatch(r"0+2+", strip)
    # Each half is about half the strip: compression keeps the proportions.
    assert abs(strip.count("0") - strip.count("2")) <= 1


def test_text_small_vma_has_a_character_per_page(memory: ProcessMemory) -> None:
    assert strips(render_text(memory))[SMALL] == "00.00"


def test_text_alternating_pages_fit_one_character_each(memory: ProcessMemory) -> None:
    assert strips(render_text(memory))[ALTERNATING] == "03" * 20


def test_text_zero_page_only_where_it_is_most_of_the_slice() -> None:
    # 10 slices of 10 pages: 6 zero of 10 is a majority, 4 zero and 3 on node 1 and 3 absent is not.
    slice_a = [ZERO_PAGE] * 6 + [1] * 4
    slice_b = [ZERO_PAGE] * 4 + [1] * 3 + [NOT_PRESENT] * 3
    nodes = slice_a * 5 + slice_b * 5
    memory = make_memory([make_vma(LARGE, nodes)])
    line = render_text(memory)[0]
    label = len(line) - len(strips([line])[LARGE])
    assert strips(render_text(memory, width=10 + label))[LARGE] == "zzzzz11111"


def test_text_swapped_and_higher_node_ids() -> None:
    swapped = np.zeros(4, dtype=np.bool_)
    swapped[1] = True
    vma = make_vma(LARGE, [11, NOT_PRESENT, 36, 9], swapped=swapped)
    lines = render_text(make_memory([vma]))
    assert strips(lines)[LARGE] == "Bs#9"
    assert node_char(10) == "A" and node_char(35) == "Z" and node_char(36) == "#"


def test_text_without_per_page_data() -> None:
    vma = make_vma(LARGE, [0, 1])
    vma.pages = None
    assert render_text(make_memory([vma])) == ["(no VMA has per-page data)"]


def test_node_colors_are_fixed_distinct_and_not_the_page_states() -> None:
    # Pinned: a node keeps its color from one release's pictures to the next.
    assert NODE_COLORS[:4] == ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
    assert node_color(0) == NODE_COLORS[0] and node_color(2) == NODE_COLORS[2]
    assert node_color(len(NODE_COLORS)) == NODE_COLORS[0]
    assert len(set(NODE_COLORS)) == len(NODE_COLORS)
    assert all(re.fullmatch(r"#[0-9A-F]{6}", color) for color in NODE_COLORS)
    assert not {NOT_PRESENT_COLOR, ZERO_PAGE_COLOR, SWAPPED_COLOR} & set(NODE_COLORS)
    with pytest.raises(InvalidInputError):
        node_color(-2)


def test_png_has_the_width_and_only_the_colors_of_nodes_in_the_data(
    memory: ProcessMemory, tmp_path: Path
) -> None:
    nodes = [
        Node(id=0, cpus=(0, 1), mem_total=1 << 30, mem_free=1 << 29, distances={0: 10, 2: 20}, tier=4,
             has_cpu=True, has_memory=True),
        Node(id=2, cpus=(), mem_total=1 << 30, mem_free=1 << 29, distances={0: 20, 2: 10}, tier=22,
             has_cpu=False, has_memory=True),
    ]
    target = tmp_path / "map.png"
    render_png(memory, target, nodes=nodes, width_px=1234)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = read_png(target)
    assert image.shape[1] == 1234
    assert 100 < image.shape[0] < 600
    colors = colors_in(image)
    for node in (0, 2, 3):
        assert rgb(NODE_COLORS[node]) in colors
    for absent in (1, 4, 5, 6):
        assert rgb(NODE_COLORS[absent]) not in colors


def test_png_large_vma_is_node_0_then_node_2_left_to_right(memory: ProcessMemory, tmp_path: Path) -> None:
    target = tmp_path / "large.png"
    render_png(make_memory([memory.vmas[1]]), target, width_px=800)
    image = read_png(target)
    blue, green = rgb(NODE_COLORS[0]), rgb(NODE_COLORS[2])
    # Every row of the band: the node 0 pixels all come before the node 2 pixels.
    rows = 0
    for row in image:
        pixels = [tuple(int(v) for v in pixel) for pixel in row]
        xs_blue = [x for x, p in enumerate(pixels) if p == blue]
        xs_green = [x for x, p in enumerate(pixels) if p == green]
        if len(xs_blue) > 50 or len(xs_green) > 50:
            rows += 1
        if len(xs_blue) > 50 and len(xs_green) > 50:
            assert max(xs_blue) < min(xs_green)
    assert rows >= 14  # at least one band row's height


def test_png_draws_not_present_zero_and_swapped_pages(tmp_path: Path) -> None:
    swapped = np.zeros(300, dtype=np.bool_)
    swapped[200:] = True
    nodes = np.full(300, NOT_PRESENT, dtype=np.int32)
    nodes[:100] = 1
    nodes[100:200] = ZERO_PAGE
    target = tmp_path / "states.png"
    render_png(make_memory([make_vma(LARGE, nodes, swapped=swapped)]), target, width_px=900)
    colors = colors_in(read_png(target))
    assert {rgb(NODE_COLORS[1]), rgb(ZERO_PAGE_COLOR), rgb(SWAPPED_COLOR)} <= colors
    assert rgb(NODE_COLORS[0]) not in colors


def test_png_of_four_million_pages_is_quick(tmp_path: Path) -> None:
    nodes = np.zeros(4_000_000, dtype=np.int32)
    nodes[1_000_000:3_000_000] = 1
    nodes[3_500_000:] = NOT_PRESENT
    memory = make_memory([make_vma(LARGE, nodes), make_vma(SMALL, [2, 2, 2])])
    target = tmp_path / "big.png"
    began = time.perf_counter()
    render_png(memory, target)
    lines = render_text(memory)
    assert time.perf_counter() - began < 5
    image = read_png(target)
    assert image.shape[1] == 1600 and image.shape[0] < 400  # bounded by VMAs, not by pages
    assert {rgb(NODE_COLORS[n]) for n in (0, 1, 2)} <= colors_in(image)
    # A slice astride the 0|1 boundaries may show "~" (neither node has 3/4 of it).
    assert re.fullmatch(r"0+~?1+~?0+\.+", strips(lines)[LARGE])


def test_png_refuses_nothing_to_draw_and_too_narrow(memory: ProcessMemory, tmp_path: Path) -> None:
    empty = make_vma(LARGE, [0])
    empty.pages = None
    with pytest.raises(InvalidInputError, match="per-page data"):
        render_png(make_memory([empty]), tmp_path / "none.png")
    with pytest.raises(InvalidInputError, match="480"):
        render_png(memory, tmp_path / "narrow.png", width_px=200)
    assert not list(tmp_path.iterdir())


def test_png_without_matplotlib_is_unsupported(
    memory: ProcessMemory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("matplotlib", "PIL"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(UnsupportedError, match=r"numamove\[plot\]") as caught:
        render_png(memory, tmp_path / "map.png")
    assert caught.value.errno in (getattr(errno, "ENOPKG", errno.ENOSYS), errno.ENOSYS)


FRAME = (0x8C, 0x8C, 0x8C)


def band_rows(image: npt.NDArray[np.uint8], *colors: tuple[int, int, int]) -> list[tuple[int, int]]:
    """The (first, last) pixel rows of each run of rows where one of ``colors`` appears."""
    hits = np.flatnonzero(np.logical_or.reduce(
        [(image == np.array(color, dtype=np.uint8)).all(axis=2).any(axis=1) for color in colors]))
    runs: list[tuple[int, int]] = []
    for y in hits.tolist():
        if runs and y == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], y)
        else:
            runs.append((y, y))
    return runs


def frame_span(image: npt.NDArray[np.uint8], y: int) -> tuple[int, int]:
    """The leftmost and rightmost frame pixels of row ``y``: a band's ends."""
    xs = np.flatnonzero((image[y] == np.array(FRAME, dtype=np.uint8)).all(axis=1))
    return int(xs[0]), int(xs[-1])


def test_png_band_length_grows_with_the_vma_size_on_a_log_scale(tmp_path: Path) -> None:
    # 1, 16, 256 and 4,096 pages, all on node 0: old pictures drew every band the full width.
    sizes = [1, 16, 256, 4096]
    vmas = [make_vma(LARGE + i * 0x1000_0000, np.zeros(pages, dtype=np.int32))
            for i, pages in enumerate(sizes)]
    target = tmp_path / "sizes.png"
    render_png(make_memory(vmas), target, width_px=1200, min_size=0)
    image = read_png(target)
    bands = band_rows(image, rgb(NODE_COLORS[0]))[1:]  # the first run is the legend's swatch
    assert len(bands) == 4
    lengths = [np.subtract(*frame_span(image, (top + bottom) // 2))[()] * -1 for top, bottom in bands]
    assert lengths == sorted(lengths) and len(set(lengths)) == 4
    steps = np.diff(lengths)  # each band is 16 times the last: equal steps on a log scale
    assert steps.max() - steps.min() <= 2
    assert lengths[-1] > 10 * lengths[0]


def test_png_interleaved_pages_show_every_node_in_every_column(tmp_path: Path) -> None:
    # Page-level interleaving over 3 nodes: each cell is split in thirds, never one node's color alone,
    # and only legend colors (no blend of them) appear inside the band.
    nodes = np.tile(np.array([0, 1, 2], dtype=np.int32), 10_000)
    target = tmp_path / "interleaved.png"
    render_png(make_memory([make_vma(LARGE, nodes)]), target, width_px=1000)
    image = read_png(target)
    (top, bottom), = band_rows(image, *(rgb(NODE_COLORS[n]) for n in (0, 1, 2)))[1:]
    left, right = frame_span(image, (top + bottom) // 2)
    band = image[top:bottom + 1, left + 1:right]
    palette = {rgb(NODE_COLORS[n]) for n in (0, 1, 2)}
    assert colors_in(band) <= palette | {FRAME}
    for x in range(band.shape[1]):
        column = {tuple(int(v) for v in pixel) for pixel in band[:, x]}
        assert palette <= column
        # Thirds: no node takes more than half the band's height.
        counts = [int((band[:, x] == np.array(color, dtype=np.uint8)).all(axis=1).sum()) for color in palette]
        assert max(counts) <= (bottom - top + 1) // 2


def test_text_interleaved_slices_show_several_nodes() -> None:
    nodes = np.tile(np.array([0, 1], dtype=np.int32), 5_000)
    strip = strips(render_text(make_memory([make_vma(LARGE, nodes)])))[LARGE]
    assert set(strip) == {"~"}
    assert "~ several nodes" in " ".join(render_text(make_memory([make_vma(LARGE, nodes)])))


def test_small_neighbouring_vmas_fold_into_one_band(tmp_path: Path) -> None:
    # 300 one-page VMAs between two large ones: one folded band, unless every VMA is asked for.
    small = [make_vma(SMALL + i * 0x10000, [1]) for i in range(300)]
    vmas = [make_vma(LARGE, np.zeros(1000, dtype=np.int32)), *small,
            make_vma(ALTERNATING, np.zeros(1000, dtype=np.int32))]
    memory = make_memory(vmas)
    lines = render_text(memory, width=80)
    folded = [line for line in lines if line.split()[1:3] == ["300", "VMAs"]]
    assert len(folded) == 1 and "1.2 MiB" in folded[0]
    assert folded[0].startswith(f"{SMALL:012x} ")
    assert len(strips(lines)) == 3
    assert len(strips(render_text(memory, width=80, min_size=0))) == 302

    folded_png, every_png = tmp_path / "folded.png", tmp_path / "every.png"
    render_png(memory, folded_png)
    render_png(memory, every_png, min_size=0)
    assert read_png(folded_png).shape[0] < 400
    assert read_png(every_png).shape[0] > 3 * read_png(folded_png).shape[0]


def test_default_picture_of_a_small_process_fits_a_screen(tmp_path: Path) -> None:
    # A typical small process: 40 libraries of 5 mappings each (4-240 KiB) and a few large VMAs.
    vmas = []
    address = SMALL
    for library in range(40):
        for pages in (4, 60, 10, 1, 2):
            path = f"/lib/lib{library}.so"
            vmas.append(make_vma(address, np.zeros(pages, dtype=np.int32), VmaKind.FILE, path))
            address += pages * PAGE
    vmas += [make_vma(LARGE + i * 0x1000_0000, np.zeros(3000, dtype=np.int32)) for i in range(6)]
    memory = make_memory(vmas)
    target = tmp_path / "process.png"
    render_png(memory, target)
    assert read_png(target).shape[0] <= 1500
    # A band per library: its five mappings fold together.
    lines = render_text(memory)
    assert len(strips(lines)) == 46
    first_library = next(line for line in lines if line.startswith(f"{SMALL:012x}"))
    assert first_library.startswith(f"{SMALL:012x} 5 VMAs 308.0 KiB ")


def test_thp_vmas_are_labelled() -> None:
    vma = make_vma(LARGE, np.zeros(1024, dtype=np.int32))
    vma.thp_pages = 512
    plain = make_vma(SMALL, np.zeros(1024, dtype=np.int32))
    lines = render_text(make_memory([vma, plain]))
    assert lines[0].split()[1:3] == ["anon", "THP"]
    assert lines[1].split()[1:3] == ["anon", "4.0"]


def test_text_lines_give_each_band_its_size_and_whole_address(memory: ProcessMemory) -> None:
    for width in (80, 40):
        lines = render_text(memory, width=width)
        assert all(len(line) <= width for line in lines)
        assert lines[0].startswith(f"{LARGE:012x} heap 390.6 MiB ")
        assert lines[1].startswith(f"{SMALL:012x} anon  20.0 KiB ")
        assert lines[2].startswith(f"{ALTERNATING:012x} file 160.0 KiB ")
    # Narrower still: the strip moves under its label, the address stays whole.
    lines = render_text(memory, width=30)
    assert lines[0] == f"{LARGE:012x} heap 390.6 MiB"
    assert re.fullmatch(r"  0+2+", lines[1]) and len(lines[1]) <= 30


def test_where_table_on_a_40_column_terminal_keeps_addresses_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from numamove.cli.where import print_process as _print_process

    vma = make_vma(0x55D2C0A4E000, [0, 0, 1], VmaKind.FILE, "/usr/lib/x86_64-linux-gnu/libc.so.6")
    vma.policy = "default"
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _print_process(make_memory([vma]), with_pages=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "55d2c0a4e000" in output
    assert "…" not in output
    assert all(len(line) <= 40 for line in output.splitlines() if "│" in line)


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8\xff"),
                                               (".JPEG", b"\xff\xd8\xff"), (".webp", b"RIFF")])
def test_picture_format_follows_the_suffix(memory: ProcessMemory, tmp_path: Path, suffix: str,
                                           magic: bytes) -> None:
    target = tmp_path / f"map{suffix}"
    render_png(memory, target)
    assert target.read_bytes().startswith(magic)
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_picture_refuses_unknown_suffix_and_missing_folder(memory: ProcessMemory, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"map\.svg.*\.png, \.jpg"):
        render_png(memory, tmp_path / "map.svg")
    with pytest.raises(InvalidInputError, match="suffix"):
        render_png(memory, tmp_path / "map")
    with pytest.raises(InvalidInputError, match=r"/nonexistent/dir/x\.png: the directory /nonexistent/dir "):
        render_png(memory, "/nonexistent/dir/x.png")
    with pytest.raises(InvalidInputError, match="is a directory"):
        render_png(memory, tmp_path)
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_no_partial_picture(
    memory: ProcessMemory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    target = tmp_path / "map.png"
    target.write_bytes(b"the old picture")

    def disk_full(self: Any, fp: Any, *args: Any, **kwargs: Any) -> None:
        fp.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(KernelError, match=r"cannot write .*map\.png: No space left on device"):
        render_png(memory, target)
    assert target.read_bytes() == b"the old picture"
    assert [path.name for path in tmp_path.iterdir()] == ["map.png"]


def test_map_command_bad_output_is_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from numamove.cli import main

    for output, cause in (("/nonexistent/dir/x.png", "the directory /nonexistent/dir does not exist"),
                          (str(tmp_path / "x.svg"), "the picture's suffix must be one of")):
        result = CliRunner().invoke(main, ["map", str(os.getpid()), "-o", output])
        assert result.exit_code == 1
        assert result.output.count("\n") == 1 and output in result.output and cause in result.output
        assert "Traceback" not in result.output


def test_min_size_option_parses_sizes() -> None:
    assert parse_size("64K") == 65536 and parse_size("1.5MiB") == 1536 * 1024 and parse_size("0") == 0
    with pytest.raises(InvalidInputError, match="'lots'"):
        parse_size("lots")
