"""``numamove report``: what a profile log says, as tables, JSON or a heatmap picture.

Reads the log FILE (and its rotated parts FILE.N ... FILE.1, oldest first) that
``numamove profile`` wrote; numamove.profile.report analyses the records and
numamove.render.heatmap draws them. Touches no kernel interface.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

from numamove._format import human_bytes
from numamove.cli.app import main, reports_errors
from numamove.cli.output import print_table
from numamove.errors import InvalidInputError

if TYPE_CHECKING:
    from numamove.profile.report import BadLine, ProcessReport, Report
    from numamove.render.heatmap import HeatmapData



@main.command()
@click.argument("file", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--heatmap", "heatmap", metavar="OUT.png",
              help="Also draw a heatmap (heat by time and address, each address's node, resident memory per "
                   "node over time) to OUT; its suffix picks the format (.png, .jpg, .webp, .tif, .bmp).")
@click.option("--top", type=click.IntRange(1, 1_000_000), default=10, show_default=True,
              help="Hot regions listed per process in the text report.")
@click.option("--pid", "pid", type=click.IntRange(1, None),
              help="The process the heatmap draws (default: the first of the log).")
@reports_errors
def report(file: str, as_json: bool, heatmap: str | None, top: int, pid: int | None) -> None:
    """Report on the profile log FILE that `numamove profile` wrote.

    \b
    Per process: the hottest and the cold regions, ranked by their heat per
    page (mean over the intervals each range was seen in, in the tracker's
    unit); the working set (bytes with heat > 0) over time; resident memory
    per node, first and last interval; the share of accesses from a node
    other than the memory's node, per (accessing node, memory node) pair and
    per mapping (unknown, null in JSON, when no tracker told the accessing
    nodes: add the threads tracker). A log cut short (no end record) is
    reported as truncated; unreadable lines are counted and the first named.

    \b
    --json prints one object: tracker, pid, intervals, regions (hottest
    first: start, end, heat, heat_unit, written, nodes, accessing_nodes),
    working_set, resident_by_node, remote, warnings, and processes (every
    process of the log; the top level repeats the first).

    \b
    --heatmap OUT.png draws one picture: heat by time (seconds) and address
    (mapped ranges stacked without the gaps between them), a strip of each
    address's memory node beside it, and resident MiB per node over time.

    \b
    Examples:
      numamove report redis.jsonl
      numamove report redis.jsonl --top 20 --heatmap redis.png
      numamove report redis.jsonl --json
    """
    from numamove.profile.report import analyze
    from numamove.render.files import picture_format

    if heatmap is not None:
        picture_format(heatmap)  # a bad suffix or folder is refused before reading a long log
    records, bad_lines, files = read_log(file)
    try:
        found = analyze(records, bad_lines=bad_lines, keep_timeline=heatmap is not None)
    except InvalidInputError as error:
        raise InvalidInputError(f"{file}: {error}") from None
    if len(files) > 1:
        found.warnings.insert(0, f"read {len(files)} parts, oldest first: {', '.join(files)}")
    for warning in found.warnings:
        click.echo(f"numamove: warning: {warning}", err=True)
    for line in found.first_bad_lines:
        click.echo(f"numamove: warning: {line.file or file}:{line.line}: {line.why}", err=True)
    if as_json:
        for chunk in found.json_chunks():  # millions of regions are never all in memory as objects
            click.echo(chunk, nl=False)
        click.echo("")
    else:
        print_report(found, top)
    if heatmap is not None:
        draw(found, heatmap, pid, to_stderr=as_json)


def read_log(path: str) -> tuple[Iterator[dict[str, Any]], list[BadLine], list[str]]:
    """The records of a profile log and its rotated parts (oldest first), the list its bad lines go to,
    and the files read. The first line of FILE must be a numamove-profile header."""
    from numamove.profile.lines import FORMAT, BadLine, log_parts, read_objects

    if not os.path.lexists(path):
        raise InvalidInputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InvalidInputError(f"{path}: is a directory, not a profile log")
    with open(path, "rb") as opened:
        first = opened.readline(1 << 20)
    if not first:
        raise InvalidInputError(f"{path}: empty file, not a profile log")
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("type") != "header" or header.get("format") != FORMAT:
        raise InvalidInputError(f"{path}: not a numamove profile: its first line is not a {FORMAT} header")
    files = log_parts(path)
    bad: list[BadLine] = []

    def records() -> Iterator[dict[str, Any]]:
        for item in read_objects(path):
            if isinstance(item, BadLine):
                bad.append(item)
            else:
                yield item[2]

    return records(), bad, files


def print_report(found: Report, top: int) -> None:
    """The text report: per process, its hottest regions and its figures over time."""
    ending = "truncated: no end record" if found.end is None else f"ended: {found.end.get('reason')}"
    if not found.processes:
        click.echo(f"{found.tracker} profile: no interval recorded ({ending})")
    for process in found.processes:
        name = f" ({process.name})" if process.name else ""
        click.echo(f"pid {process.pid}{name}: {found.tracker} profile, {process.intervals} intervals over "
                   f"{_duration(process)} ({ending}); heat is the mean per page over the intervals each "
                   f"range was seen in, in {found.heat_unit or 'the tracker unit'}")
        _print_regions(process, top, found.page_size)
        _print_figures(process, found.page_size)
        click.echo("")
    if found.bad_lines:
        click.echo(f"{found.bad_lines} lines skipped (the first on stderr)")


def _duration(process: ProcessReport) -> str:
    times = [t for _, t, _ in process.times if t is not None]
    return f"{max(times):.1f} s" if times else "an unknown time"


def _print_regions(process: ProcessReport, top: int, page_size: int) -> None:
    hot = int((process.heat > 0).sum())
    rows = []
    for rank, region in enumerate(process.regions(min(top, hot)), 1):
        written = {True: "yes", False: "no", None: "?"}[region.written]
        nodes = " ".join(f"n{node}:{human_bytes(pages * page_size)}" for node, pages in region.nodes.items())
        shares = sorted((region.accessing_nodes or {}).items(), key=lambda item: -item[1])
        accessing = "?" if region.accessing_nodes is None else " ".join(f"n{n}:{s:.0%}" for n, s in shares)
        rows.append([str(rank), f"{region.start:x}", f"{region.end:x}", human_bytes(region.size),
                     f"{region.heat:.3g}", written, nodes or "-", accessing, region.vma])
    if rows:
        print_table(f"hottest regions ({len(rows)} of {hot} with heat > 0; --top N shows more)",
                    ["rank", "start", "end", "size", "heat", "written", "nodes", "accessed from", "mapping"],
                    rows, optional=("end", "written", "accessed from"))
    else:
        click.echo("  no region was accessed in any interval")
    cold_bytes, cold_pages = process.cold()
    click.echo(f"  cold (heat 0 in every interval seen): {human_bytes(cold_bytes)} mapped, "
               f"{human_bytes(cold_pages * page_size)} of it resident")


def _print_figures(process: ProcessReport, page_size: int) -> None:
    import numpy as np

    if process.working_set:
        sizes = np.array(process.working_set)
        click.echo(f"  working set (bytes with heat > 0) over {len(sizes)} intervals: min "
                   f"{human_bytes(int(sizes.min()))}, median {human_bytes(int(np.median(sizes)))}, max "
                   f"{human_bytes(int(sizes.max()))}")
    if process.resident:
        (first_index, first), (last_index, last) = process.resident[0], process.resident[-1]
        nodes = sorted(set(first) | set(last))
        print_table(f"resident memory per node, interval {first_index} and {last_index}",
                    ["node", "first", "last", "change"],
                    [[str(node), human_bytes(first.get(node, 0) * page_size),
                      human_bytes(last.get(node, 0) * page_size),
                      _signed(last.get(node, 0) - first.get(node, 0), page_size)] for node in nodes])
    share = process.remote_share
    if share is None:
        click.echo("  remote accesses: unknown (no tracker told which nodes' CPUs accessed memory; add the "
                   "threads tracker)")
        return
    click.echo(f"  remote accesses: {share:.1%} of heat x bytes came from a node other than the memory's")
    total = float(process.pairs.sum())
    pairs = [[str(a), str(m), f"{process.pairs[a, m] / total:.1%}", "remote" if a != m else "local"]
             for a, m in np.argwhere(process.pairs > 0).tolist()]
    print_table(None, ["accessing node", "memory node", "share", "kind"], pairs)
    rows = [[f"{start:x}", f"{end:x}", f"{access:.1%}", "?" if remote is None else f"{remote:.1%}", name]
            for start, end, name, access, remote in process.vma_remote[:10]]
    if rows:
        print_table("per mapping (most accessed first)", ["start", "end", "of accesses", "remote", "mapping"],
                    rows, optional=("end",))


def _signed(pages: int, page_size: int) -> str:
    return ("+" if pages > 0 else "-" if pages < 0 else "") + human_bytes(abs(pages) * page_size)


def draw(found: Report, path: str, pid: int | None, *, to_stderr: bool) -> None:
    """Draw the heatmap of process ``pid`` (the log's first by default) to ``path``."""
    from numamove.render.files import picture_format, save_picture
    from numamove.render.heatmap import render_heatmap

    chosen = [p for p in found.processes if pid is None or p.pid == pid]
    if not found.processes:
        raise InvalidInputError("--heatmap: nothing to draw: the log recorded no interval")
    if not chosen:
        known = ", ".join(str(p.pid) for p in found.processes) or "none"
        raise InvalidInputError(f"--pid {pid}: the log has no such process (its processes: {known})")
    picture = render_heatmap(heatmap_data(found, chosen[0]))
    save_picture(picture.image, path, picture_format(path))
    click.echo(f"wrote {path}", err=to_stderr)


def heatmap_data(found: Report, process: ProcessReport) -> HeatmapData:
    """The heatmap's plain data for one process of a report (kept with ``keep_timeline``)."""
    import numpy as np

    from numamove.render.heatmap import HeatmapData

    times = {index: time for index, time, _ in process.times}
    usage_times = np.array([times.get(index) or float(index + 1) for index, _ in process.resident])
    nodes = sorted({node for _, pages in process.resident for node in pages})
    usage = {node: np.array([pages.get(node, 0) for _, pages in process.resident], dtype=np.float64)
             for node in nodes}
    mappings: Sequence[tuple[int, int, str]] = process.vmas + [
        (int(s), int(e), "") for s, e in zip(process.starts.tolist(), process.ends.tolist(), strict=True)]
    name = f" ({process.name})" if process.name else ""
    return HeatmapData(
        title=f"pid {process.pid}{name}: {found.tracker} profile, {process.intervals} intervals",
        heat_unit=found.heat_unit, intervals=process.timeline or [], mappings=mappings,
        placement=(process.starts, process.ends, process.pages), usage_times=usage_times, usage_pages=usage,
        page_size=found.page_size)
