"""``numamove map``: a picture of one process's address space, each page colored by its node.

Reads the process through numamove.scan; numamove.render draws it.
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import click

from numamove.cli.app import main, parse_ranges, reports_errors, scan_options, select_targets
from numamove.errors import InvalidInputError

if TYPE_CHECKING:
    from numamove.kernel import Kernel


@main.command(name="map")
@scan_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write a picture to FILE instead; its suffix picks the format: .png, .jpg/.jpeg, .webp, "
                   ".tif/.tiff or .bmp.")
@click.option("--min-size", "min_size", default="64K", show_default=True, metavar="SIZE",
              help="Fold runs of neighbouring VMAs smaller than SIZE (bytes, or with K, M, G) into one band.")
@click.option("--all-vmas", is_flag=True, help="Draw every VMA as its own band: fold nothing (--min-size 0).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-page placement as JSON.")
@click.pass_obj
@reports_errors
def map_command(kernel: Kernel, target: str, vma: str | None, ranges: tuple[str, ...], output: str | None,
                min_size: str, all_vmas: bool, as_json: bool) -> None:
    """Picture the address space of TARGET: one band per VMA, each page colored by its node.

    \b
    TARGET names exactly one process, in one of these forms:
      1234              a pid
      redis             a regular expression searched in process names
                        (/proc/PID/comm, as pgrep does); name:REGEX forces it
      /app.slice/x      a cgroup v2 path (or cgroup:PATH, relative to
                        /sys/fs/cgroup), when it holds one process

    \b
    Without -o, prints a text strip per VMA: its start address, kind and
    size, then a character per page or, for a wide VMA, per slice of pages
    (the slice's majority): 0-9 and A-Z the node, "~" several nodes (none
    with 3/4 of the slice), "." not present, "z" the zero page, "s" swapped.

    \b
    With -o FILE, draws a picture: a band per VMA whose length is its size on
    a log scale (a ruler above the bands reads it), labelled with its address
    range, kind ("THP" when transparent huge pages back it), size and file.
    Each node has a fixed color (node 0 blue, 1 orange, 2 green, 3 purple, ...);
    white is not present, light grey the zero page, dark grey swapped. A cell
    holding pages of several kinds is split top to bottom in their shares, so
    interleaved pages show as stripes of the nodes' colors.

    \b
    A file's neighbouring mappings (a library's code and data), and runs of
    neighbouring VMAs under --min-size, fold into one band or line labelled
    "N VMAs", so a whole process stays readable; --all-vmas draws each VMA.

    \b
    Examples:
      numamove map 1234                      text strips on the terminal
      numamove map redis-server -o redis.png a picture of a Redis server
      numamove map 1234 --vma heap -o heap.webp --all-vmas

    Reads /proc/PID/maps, smaps, numa_maps and pagemap (and move_pages(2)
    without CAP_SYS_ADMIN).
    """
    from numamove.render import parse_size, picture_format, render_png, render_text
    from numamove.scan import scan_process
    from numamove.selection import vma_selector
    from numamove.topology import read_topology

    try:
        fold_below = 0 if all_vmas else parse_size(min_size)
    except InvalidInputError as error:
        raise InvalidInputError(f"--min-size: {error}") from None
    if output is not None:
        picture_format(output)  # a bad suffix or folder (or "") is refused before the scan, not after
    pids = select_targets(kernel, target)
    if len(pids) > 1:
        raise InvalidInputError(f"map draws one process; {target!r} names {len(pids)}: "
                                f"{', '.join(map(str, pids[:5]))}{'...' if len(pids) > 5 else ''}")
    # detail: smaps tells which VMAs transparent huge pages back, for their "THP" label.
    scan = scan_process(pids[0], kernel=kernel, pages=True, select=vma_selector(vma) if vma else None,
                        ranges=parse_ranges(ranges), detail=True)
    if as_json:
        click.echo(json.dumps(scan.to_dict(with_pages=True), indent=1))
        return
    if output is not None:
        render_png(scan, output, nodes=read_topology(kernel).nodes, min_size=fold_below)
        click.echo(f"wrote {output}")
        return
    for line in render_text(scan, width=shutil.get_terminal_size((100, 24)).columns, min_size=fold_below):
        click.echo(line)
