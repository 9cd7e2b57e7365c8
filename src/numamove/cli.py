"""The ``numamove`` command. The only place that prints or exits.

Library errors become one line on stderr and a non-zero exit; tables are
drawn with rich on a terminal and as plain aligned text when piped.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import mmap
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from numamove._entry import (
    EXIT_INTERRUPTED,
    check_stdout_open,
    exit_on_output_error,
    interrupted,
    is_output_error,
)
from numamove._format import human_bytes
from numamove.errors import InvalidInputError, NumaMoveError

if TYPE_CHECKING:
    from numamove.kernel import Kernel
    from numamove.mover import MoveResult
    from numamove.placement import ProcessMemory
    from numamove.topology import Topology

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_USAGE = 2  # click's own usage errors exit 2 too
EXIT_SHARED_LEFT = 3  # move, migrate: all that could move landed, but pages other processes map were left
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, outside the documented statuses so that tests notice it
SHOWN_TARGETS = 10  # processes listed when a broad target needs --yes


def reports_errors(command: F) -> F:
    """Turn library errors into "numamove: error: ..." and exit status 1, never a traceback.

    A failed write to stdout (closed, full) is one line and exit 1 too; Ctrl-C
    that nothing closer handled is "numamove: interrupted" and exit 130.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_stdout_open()
        try:
            result = command(*args, **kwargs)
            sys.stdout.flush()  # a full disk shows here, not in the interpreter's closing flush
            return result
        except NumaMoveError as error:
            click.echo(f"numamove: error: {error}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            interrupted()
        except OSError as error:
            if is_output_error(error):
                exit_on_output_error(error)
            # A kernel file the library read without wrapping (a --root tree without proc/).
            click.echo(f"numamove: error: cannot read {error.filename or 'a kernel file'}: "
                       f"{error.strerror or error}", err=True)
            sys.exit(EXIT_ERROR)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise  # click's own endings: usage errors, a "no" at a prompt
        except Exception as error:  # the last guard: a bug, said in one line
            if os.environ.get("NUMAMOVE_DEBUG"):
                raise
            click.echo(f"numamove: internal error: {type(error).__name__}: {error} (a bug: please report "
                       "it; NUMAMOVE_DEBUG=1 shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


class _Commands(click.Group):
    """The group: Ctrl-C while click parses or starts a command exits 130 (click would say
    "Aborted!" and exit 1), as it does inside a command."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            interrupted()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            interrupted()


def print_table(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[str]], *,
                optional: Sequence[str] = ()) -> None:
    """A rich table on a terminal, aligned plain text otherwise.

    On a terminal too narrow for every column, the ``optional`` columns (by
    header) are left out, in that order, until the table fits; a cell that
    still does not fit folds onto more lines, never shortened to "…".
    """
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        console = Console()
        last = len(headers) - 1
        # A column needs its widest cell (the last, a path, folds well at 12) and 3 of padding and border.
        needs = [min(max(len(str(cell)) for cell in column), 12 if index == last and index else 1 << 30) + 3
                 for index, column in enumerate(zip(headers, *rows, strict=True))]
        shown = list(range(len(headers)))
        for name in optional:
            if sum(needs[index] for index in shown) + 1 <= console.width:
                break
            if name in headers and headers.index(name) in shown:
                shown.remove(headers.index(name))
        # Still too wide: no outer border, and the last column (a path) folds into what remains.
        room = console.width - sum(needs[index] for index in shown if index != last) - 2
        narrow = sum(needs[index] for index in shown) + 1 > console.width
        table = Table(title=title, title_justify="left", show_edge=not narrow)
        for index in shown:
            table.add_column(headers[index], justify="left" if index == last and index else "right",
                             overflow="fold", max_width=max(room, 8) if narrow and index == last else None)
        for row in rows:
            table.add_row(*(row[index] for index in shown))
        console.print(table)
        return
    if title:
        click.echo(title)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        cells = [str(cell).rjust(width) for cell, width in zip(row, widths, strict=True)]
        if len(headers) > 1:  # the last column (a path, a kind) reads better left-aligned
            cells[-1] = str(row[-1])
        click.echo("  ".join(cells).rstrip())


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="numamove")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default="/", show_default=True,
              help="Read /proc and /sys under this directory (a captured tree, for example).")
@click.pass_context
def main(context: click.Context, root: str) -> None:
    """See where the pages of Linux processes live, and move them between NUMA nodes."""
    from numamove.kernel import Kernel

    context.obj = Kernel(root)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
@reports_errors
def nodes(kernel: Kernel, as_json: bool) -> None:
    """Show NUMA nodes: CPUs, memory, memory tier and distances.

    Read from /sys/devices/system/node and /sys/devices/virtual/memory_tiering.
    """
    from numamove.nodemask import format_nodemask
    from numamove.topology import read_topology

    topology = read_topology(kernel)
    if as_json:
        click.echo(json.dumps([node.to_dict() for node in topology.nodes], indent=2))
        return
    rows = []
    for node in topology.nodes:
        kind = "cpu+memory" if node.has_cpu and node.has_memory else (
            "memory only" if node.memory_only else "cpu only" if node.has_cpu else "empty")
        rows.append([str(node.id), format_nodemask(node.cpus) or "-", human_bytes(node.mem_total),
                     human_bytes(node.mem_free), "-" if node.tier is None else str(node.tier), kind])
    print_table("NUMA nodes", ["node", "cpus", "total", "free", "tier", "kind"], rows)
    ids = [node.id for node in topology.nodes]
    print_table("distances (SLIT, 10 = local)", ["from\\to", *map(str, ids)],
                [[str(node.id), *(str(node.distances[other]) for other in ids)] for node in topology.nodes])
    balancing = {None: "unknown", 0: "off", 1: "on", 2: "memory tiering", 3: "on + memory tiering"}
    demotion = {None: "unknown", True: "on", False: "off"}
    click.echo(f"NUMA balancing: {balancing.get(topology.numa_balancing, str(topology.numa_balancing))}; "
               f"demotion to lower tiers: {demotion[topology.demotion_enabled]}")


def _not_blank(_context: click.Context, _parameter: click.Parameter, value: str | None) -> str | None:
    """An option given as "" would otherwise read as not given at all (no filter)."""
    if value is not None and not value.strip():
        raise click.BadParameter("is empty: give a kind or a regular expression")
    return value


def scan_options(command: F) -> F:
    """The options that choose what part of a process to look at."""
    options = [
        click.argument("target"),
        click.option("--vma", "vma", metavar="KIND|REGEX", callback=_not_blank,
                     help="Only VMAs of this kind (heap, stack, anon, file, shm, hugetlb, thp, vdso, other) "
                          "or whose path matches this regular expression."),
        click.option("--range", "ranges", metavar="START-END", multiple=True,
                     help="Only this half-open address range (hex or decimal); repeatable."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


_YES = "numamove.yes"  # context.meta key: the --yes flag of move and migrate


def yes_option(command: F) -> F:
    """--yes: move and migrate act on every process a broad target selects (checked in _targets)."""
    def remember(context: click.Context, _parameter: click.Parameter, value: bool) -> bool:
        context.meta[_YES] = value
        return value

    option = click.option("--yes", "-y", is_flag=True, expose_value=False, callback=remember,
                          help="Act on every process a name pattern or cgroup selects, without asking.")
    return option(command)


def _targets(kernel: Kernel, target: str) -> list[int]:
    """The pids of TARGET. In a command with --yes (move, migrate), a name pattern or cgroup that
    selects several processes needs --yes, or a "yes" on a terminal."""
    from numamove.targets import is_pid_list, resolve_targets

    pids = resolve_targets(target, kernel)
    context = click.get_current_context(silent=True)
    if context is None or context.meta.get(_YES, True) or len(pids) < 2 or is_pid_list(target):
        return pids
    shown = [f"{pid} {_process_name(kernel, pid)}" for pid in pids[:SHOWN_TARGETS]]
    more = f", and {len(pids) - SHOWN_TARGETS} more" if len(pids) > SHOWN_TARGETS else ""
    if not _on_terminal():
        click.echo(f"numamove: error: {target!r} selects {len(pids)} processes ({', '.join(shown)}{more}): "
                   "add --yes to act on all of them", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"{target!r} selects {len(pids)} processes:", err=True)
    for line in shown:
        click.echo(f"  {line}", err=True)
    if more:
        click.echo(f"  {more.removeprefix(', ')}", err=True)
    click.confirm(f"Act on all {len(pids)} of them?", abort=True, err=True)
    return pids


def _on_terminal() -> bool:
    """Whether someone can answer a question: stdin is a terminal."""
    return sys.stdin is not None and sys.stdin.isatty()


def _process_name(kernel: Kernel, pid: int) -> str:
    try:
        return kernel.read_text(f"proc/{pid}/comm").rstrip("\n")
    except OSError:
        return "(exited)"


def _ranges(texts: Sequence[str]) -> list[tuple[int, int]]:
    from numamove.placement import check_ranges, parse_address_range

    return check_ranges([parse_address_range(text) for text in texts])


@main.command()
@scan_options
@click.option("--pages", is_flag=True, help="Add the exact placement of every page of each VMA.")
@click.option("--method", type=click.Choice(["auto", "pagemap", "query"]), default="auto", show_default=True,
              help="Per-page source: pagemap PFNs (needs CAP_SYS_ADMIN) or move_pages queries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
@reports_errors
def where(kernel: Kernel, target: str, vma: str | None, ranges: tuple[str, ...], pages: bool,
          method: str, as_json: bool) -> None:
    """Show where the memory of TARGET lives, per VMA and in total.

    Reads /proc/PID/maps, numa_maps and smaps; --pages and --range also read
    /proc/PID/pagemap (and query move_pages(2) without CAP_SYS_ADMIN).
    Several processes are counted together too, each shared page once.

    \b
    TARGET is one of:
      1234           a pid
      1234,5678      several pids (commas, no spaces)
      redis          a regular expression searched in process names, as pgrep does
      name:REGEX     the same, for a name that looks like a pid or a path
      cgroup:PATH    every process of a cgroup v2 group and its descendants
      /PATH          the same (PATH relative to /sys/fs/cgroup, or under it)

    Kernel threads and zombies have no user memory: named by pid they are
    refused, and a pattern or a cgroup leaves them out.

    \b
    Examples:
      numamove where 1234
      numamove where 1234 --pages --range 0x7f0000000000-0x7f0000200000
      numamove where redis-server --json
      numamove where cgroup:system.slice/nginx.service
    """
    from numamove.placement import combine, scan_process, vma_selector

    pids = _targets(kernel, target)
    select = vma_selector(vma) if vma else None
    address_ranges = _ranges(ranges)
    scans = []
    # Several processes need the per-page view to count each shared page once.
    per_page = pages or len(pids) > 1
    for pid in pids:
        try:
            scans.append(scan_process(pid, kernel=kernel, pages=per_page, keep_pages=per_page, select=select,
                                      ranges=address_ranges, method=method))
        except NumaMoveError as error:
            if len(pids) == 1 or (not scans and pid == pids[-1]):  # nothing read: an error, not a warning
                raise
            click.echo(f"numamove: warning: pid {pid} skipped: {error}", err=True)
    if as_json:
        documents = [scan.to_dict(with_pages=pages) for scan in scans]
        click.echo(json.dumps(documents[0] if len(pids) == 1 else documents, indent=1))
        return
    for scan in scans:
        _print_process(scan, pages)
    if len(scans) > 1:
        application = combine(scans)
        total = sum(application.pages_by_node.values())
        click.echo(f"application ({len(scans)} processes, each shared page counted once): "
                   f"{_node_shares(application.pages_by_node, total)}; "
                   f"{application.shared_pages} pages mapped by more than one of them")


def _node_shares(counts: dict[int, int], total: int) -> str:
    if not total:
        return "no present pages"
    return ", ".join(f"node {node} {count} ({count / total:.1%})" for node, count in sorted(counts.items()))


def _print_process(scan: ProcessMemory, with_pages: bool) -> None:
    from numamove.nodemask import format_nodemask

    node_ids = sorted({node for vma in scan.vmas for node in vma.pages_by_node})
    share = "-" if scan.local_share is None else f"{scan.local_share:.1%}"
    thread_nodes = format_nodemask(scan.thread_nodes) or "?"
    swapped = "?" if scan.swapped is None else str(scan.swapped)
    size = human_bytes(scan.present * scan.page_size)
    click.echo(f"pid {scan.pid} ({scan.name}): {scan.present} present pages ({size}): "
               f"{_node_shares(scan.pages_by_node, scan.present)}")
    click.echo(f"  {scan.not_present} not present, {swapped} swapped; {len(scan.threads)} threads last ran "
               f"on node {thread_nodes}; {share} of present pages are local to them (source: {scan.method})")
    rows = []
    for vma in scan.vmas:
        low, high = vma.scanned or (vma.start, vma.end)
        rows.append([f"{low:x}", f"{high:x}", vma.kind.value,
                     *(str(vma.pages_by_node.get(node, 0)) for node in node_ids),
                     str(vma.not_present), "?" if vma.swapped is None else str(vma.swapped),
                     vma.policy, ("(gone) " if vma.gone else "") + vma.path])
    print_table(None, ["start", "end", "kind", *(f"node{n}" for n in node_ids), "absent", "swapped",
                       "policy", "path"], rows, optional=("policy", "swapped", "absent", "end", "path"))
    by_kind = scan.pages_by_kind()
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(by_kind.items()) if count)
    click.echo(f"  by kind: {kinds or 'nothing present'}")
    if with_pages:
        for vma in scan.vmas:
            if vma.pages is not None:
                click.echo(f"  {vma.start:x} {vma.kind.value} pages: {_runs(vma.pages.nodes)}")


def _runs(nodes: Any) -> str:
    """Run-length text of per-page nodes: "0x128 2x256 -x12" ("-" = not present, "z" = zero page)."""
    import numpy as np

    if len(nodes) == 0:
        return "(none)"
    edges = np.flatnonzero(np.diff(nodes)) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [len(nodes)]]))
    names = {-2: "-", -14: "z"}
    return " ".join(f"{names.get(int(nodes[s]), str(int(nodes[s])))}x{int(n)}"
                    for s, n in zip(starts, lengths, strict=True))


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
    from numamove.placement import scan_process, vma_selector
    from numamove.render import parse_size, picture_format, render_png, render_text
    from numamove.topology import read_topology

    try:
        fold_below = 0 if all_vmas else parse_size(min_size)
    except InvalidInputError as error:
        raise InvalidInputError(f"--min-size: {error}") from None
    if output is not None:
        picture_format(output)  # a bad suffix or folder (or "") is refused before the scan, not after
    pids = _targets(kernel, target)
    if len(pids) > 1:
        raise InvalidInputError(f"map draws one process; {target!r} names {len(pids)}: "
                                f"{', '.join(map(str, pids[:5]))}{'...' if len(pids) > 5 else ''}")
    # detail: smaps tells which VMAs transparent huge pages back, for their "THP" label.
    scan = scan_process(pids[0], kernel=kernel, pages=True, select=vma_selector(vma) if vma else None,
                        ranges=_ranges(ranges), detail=True)
    if as_json:
        click.echo(json.dumps(scan.to_dict(with_pages=True), indent=1))
        return
    if output is not None:
        render_png(scan, output, nodes=read_topology(kernel).nodes, min_size=fold_below)
        click.echo(f"wrote {output}")
        return
    for line in render_text(scan, width=shutil.get_terminal_size((100, 24)).columns, min_size=fold_below):
        click.echo(line)


def _target_weights(text: str, kernel: Kernel, topology: Topology) -> dict[int, float]:
    """--to: "2", "0-1", "0:3,1:1" (node:weight), "0-2:free" (by free memory) -> {node: weight}."""
    from numamove.nodemask import parse_nodemask

    allowed = kernel.online_nodes()
    weights: dict[int, float] = {}
    for entry in text.split(","):
        spec, colon, weight_text = entry.partition(":")
        nodes = parse_nodemask(spec, allowed, kernel.node_limit())
        if weight_text == "free":
            free = {node.id: node.mem_free for node in topology.nodes}
            weights.update({node: float(free.get(node, 0)) for node in nodes})
            continue
        weight = _weight(text, weight_text) if colon else 1.0
        weights.update(dict.fromkeys(nodes, weight))
    return weights


# A plain decimal number: float() alone would also take "nan", "inf", "1_0" and other scripts' digits.
_WEIGHT = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)


def _weight(text: str, weight_text: str) -> float:
    """One --to weight: a finite, positive decimal number."""
    weight = float(weight_text) if _WEIGHT.fullmatch(weight_text) else math.nan
    if not math.isfinite(weight) or weight <= 0:
        raise InvalidInputError(f"--to {text[:60]!r}: weight {weight_text[:30]!r} is not a finite positive "
                                "number (like 3 or 0.5) nor 'free'")
    return weight


def _check_move(kernel: Kernel, topology: Topology, pid: int, nodes: Iterable[int], move_all: bool,
                outside_cpuset: str = "refuse") -> None:
    """Refuse, before anything moves, what the kernel would refuse or silently misplace.

    ``outside_cpuset="warn"`` (migrate_pages(2) as root) warns about a node outside the
    process's cpuset instead: that call moves the pages there all the same.
    """
    import errno

    from numamove.errors import NodeNotAllowedError, NodeOfflineError, NoSuchProcessError, NotPermittedError
    from numamove.nodemask import format_nodemask

    memory_nodes = {node.id for node in topology.nodes if node.has_memory}
    for node in sorted(set(nodes)):
        if node not in kernel.online_nodes():
            raise NodeOfflineError(errno.ENODEV, f"node {node} is not online "
                                   f"(online: {format_nodemask(kernel.online_nodes())})", "")
        if node not in memory_nodes:
            raise NodeOfflineError(errno.ENODEV, f"node {node} has no memory to move pages to", "")
    privileged = kernel.has_cap_sys_nice()
    allowed = kernel.mems_allowed(pid)
    outside = sorted(set(nodes) - allowed) if allowed is not None else []
    if outside:
        where = (f"node {format_nodemask(outside)} is outside the cpuset of pid {pid} "
                 f"(Mems_allowed {format_nodemask(allowed or ())})")
        if outside_cpuset != "warn":
            raise NodeNotAllowedError(errno.EACCES, where, "")
        if not privileged:
            raise NodeNotAllowedError(errno.EACCES, f"{where}: moving pages there needs CAP_SYS_NICE", "")
        click.echo(f"numamove: warning: {where}; migrate_pages(2) moves the pages there all the same",
                   err=True)
    if move_all and not privileged:
        raise NotPermittedError(errno.EPERM, "--all (MPOL_MF_MOVE_ALL) needs CAP_SYS_NICE", "")
    try:
        owner = kernel.process_status(pid).get("Uid", "").split()
    except FileNotFoundError:  # exited since the target was resolved
        raise NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid} (it exited)", "") from None
    if owner and int(owner[0]) != os.geteuid() and not privileged:
        raise NotPermittedError(errno.EPERM, f"pid {pid} belongs to another user: moving its pages needs "
                                "CAP_SYS_NICE", "")


def _fallbacks(topology: Topology, targets: Iterable[int]) -> Callable[[int], list[int]]:
    """For a full target: the other targets, nearest first (SLIT distance)."""
    distances = {node.id: node.distances for node in topology.nodes}
    choices = sorted(set(targets))
    return lambda node: sorted((n for n in choices if n != node), key=lambda n: distances[node].get(n, 255))


def _progress_amount(done: int, total: int) -> str:
    """What the progress bar shows: bytes handled of bytes to move, "12.0 MiB/64.0 MiB"."""
    return f"{human_bytes(done * mmap.PAGESIZE)}/{human_bytes(total * mmap.PAGESIZE)}"


def _progress(label: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A rich progress bar in bytes on a terminal; nothing when piped.

    The bar appears at the mover's first report, (0, total), so it never shows an
    unknown total.
    """
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.fields[amount]}"),
                   TimeRemainingColumn(), transient=True)
    task = bar.add_task(label, total=None, amount="")
    shown: list[bool] = []

    def update(done: int, total: int) -> None:
        if not shown:
            shown.append(True)
            bar.start()
        bar.update(task, completed=done, total=total, amount=_progress_amount(done, total))

    return update, bar.stop


def move_exit_status(*, interrupted: bool, failed: bool, shared_left: bool) -> int:
    """The exit status of move and migrate.

    130 interrupted; 1 pages that could move did not (or the process exited mid-way);
    3 everything that could move landed but pages other processes map were left; 0
    everything in scope landed.
    """
    if interrupted:
        return EXIT_INTERRUPTED
    if failed:
        return EXIT_ERROR
    return EXIT_SHARED_LEFT if shared_left else 0


class _HardInterrupt(KeyboardInterrupt):
    """A second Ctrl-C during a move: stop at once."""


@contextlib.contextmanager
def _interruptible() -> Iterator[Callable[[], bool]]:
    """While inside, the first SIGINT only sets a flag (the yielded callable reads it), so a
    move ends after its running call; a second one raises _HardInterrupt. The old handler
    is restored on the way out."""
    import signal
    import threading

    asked: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum: int, frame: object) -> None:
        if asked:
            raise _HardInterrupt
        asked.append(True)

    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _hard_interrupt() -> None:
    click.echo("numamove: interrupted: stopped at once; pages already moved stay where they are", err=True)
    sys.exit(EXIT_INTERRUPTED)


MIN_BUDGET_MS, MAX_BUDGET_MS, DEFAULT_BUDGET_MS = 1.0, 10_000.0, 20.0
MIN_RATE_MB = 0.01


def _pacing(budget: float | None, rate: float | None) -> tuple[float, float | None]:
    """--budget (ms) and --rate (MB/s) checked and in the mover's units (s, bytes/s)."""
    import math

    budget = DEFAULT_BUDGET_MS if budget is None else budget
    if not (math.isfinite(budget) and MIN_BUDGET_MS <= budget <= MAX_BUDGET_MS):
        raise InvalidInputError(f"--budget must be a finite number of milliseconds from {MIN_BUDGET_MS:g} "
                                f"to {MAX_BUDGET_MS:g}, not {budget:g}")
    if rate is not None and not (math.isfinite(rate) and rate >= MIN_RATE_MB):
        raise InvalidInputError(f"--rate must be a finite number of MB/s, at least {MIN_RATE_MB:g} "
                                f"(two 4 KiB pages a second), not {rate:g}")
    return budget / 1000, None if rate is None else rate * 1e6


def _print_move(pid: int, result: MoveResult, dry_run: bool, budget: float | None = None) -> None:
    from numamove.status import describe_status

    verb = "would move" if dry_run else "moved"
    times = result.call_times
    click.echo(f"pid {pid}: {verb} {result.pages_moved} pages ({human_bytes(result.bytes_moved)})"
               + ("" if dry_run else f" in {result.seconds:.2f} s ({result.mb_per_second:.1f} MB/s, "
                  f"{result.calls} calls of median {times.median * 1000:.1f} ms, "
                  f"longest {times.longest * 1000:.1f} ms)")
               + f"; {result.already_there} already there, {result.not_present} not present")
    if result.moved:
        print_table(None, ["from", "to", "pages", "bytes"],
                    [[str(a), str(b), str(n), human_bytes(n * mmap.PAGESIZE)]
                     for (a, b), n in sorted(result.moved.items())])
    if result.skipped_shared:
        click.echo(f"  {result.skipped_shared} pages skipped: other processes map them too (shared "
                   "libraries, shared memory); --all moves them (needs CAP_SYS_NICE), --vma anon leaves "
                   "them out")
    for status, count in sorted(result.failed.items()):
        click.echo(f"  {count} pages {describe_status(status)}")
    if result.not_tried:
        why = "the move was interrupted" if result.interrupted else "the process exited"
        click.echo(f"  {result.not_tried} pages not tried: {why} first")
    if result.fallbacks:
        click.echo(f"  {result.fallbacks} pages went to another allowed node because their target was full")
    if budget is not None and times.longest > 2 * budget:
        click.echo(f"  the longest call took {times.longest * 1000:.1f} ms against a budget of "
                   f"{budget * 1000:g} ms: the budget sizes each call from what pages cost so far; it does "
                   "not bound the kernel's fixed work per call (every CPU drains its page lists) nor pages "
                   "dearer than the ones before")
    if result.stopped:
        click.echo(f"  stopped: {result.stopped}")


BUDGET_HELP = (f"Kernel time per move_pages(2) call, in milliseconds ({MIN_BUDGET_MS:g} to "
               f"{MAX_BUDGET_MS:g}; default {DEFAULT_BUDGET_MS:g}). The mover sizes each call from what "
               "pages cost so far; it does not bound a call: the kernel's fixed work per call (every CPU "
               "drains its page lists) and pages dearer than the ones before can take longer, on a busy "
               "machine much longer. The summary shows the median and longest call.")
RATE_HELP = f"at most this many MB per second (at least {MIN_RATE_MB:g}: two 4 KiB pages a second)."


@main.command()
@scan_options
@click.option("--to", "to", required=True, metavar="NODES[:WEIGHT,...]|threads",
              help="Target node(s): 2, 0-1 (equal shares), 0:3,1:1 (interleave by weight), 0-2:free "
                   "(by free memory), or threads (the nodes where the process's threads run).")
@click.option("--from", "from_nodes", metavar="NODES", help="Only pages now on these nodes.")
@click.option("--all", "move_all", is_flag=True,
              help="Also move pages other processes map (MPOL_MF_MOVE_ALL).")
@click.option("--rate", type=float, metavar="MB/s", help="Move " + RATE_HELP)
@click.option("--budget", type=float, metavar="MS", help=BUDGET_HELP)
@click.option("--dry-run", is_flag=True, help="Show what would move; move nothing.")
@yes_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
@reports_errors
def move(kernel: Kernel, target: str, vma: str | None, ranges: tuple[str, ...], to: str,
         from_nodes: str | None, move_all: bool, rate: float | None, budget: float | None, dry_run: bool,
         as_json: bool) -> None:
    """Move the pages of TARGET to other nodes, page by page, without stalling it.

    Reads /proc/PID/pagemap to find the present pages and moves them with
    move_pages(2) in calls of about --budget ms; huge pages move whole.
    A name pattern or a cgroup that selects several processes lists them and
    needs --yes (on a terminal, it asks).

    \b
    TARGET is one of:
      1234           a pid
      1234,5678      several pids (commas, no spaces)
      redis          a regular expression searched in process names, as pgrep does
      name:REGEX     the same, for a name that looks like a pid or a path
      cgroup:PATH    every process of a cgroup v2 group and its descendants
      /PATH          the same (PATH relative to /sys/fs/cgroup, or under it)

    Kernel threads and zombies have no user memory: named by pid they are
    refused, and a pattern or a cgroup leaves them out.

    \b
    NODES uses numactl's nodemask syntax:
      1         node 1
      0-2,4     nodes 0, 1, 2 and 4
      all       every node the caller may use
      !0        every such node but node 0
      +0        the first such node (positions, not node ids)

    \b
    --to takes NODES, or NODES:WEIGHT entries separated by commas:
      --to 1           every page to node 1
      --to 0-1         equal shares on nodes 0 and 1
      --to 0:3,1:1     three pages on node 0 for each page on node 1
      --to 0-2:free    shares in proportion to each node's free memory
      --to threads     each process's pages to the nodes where its threads run

    \b
    Examples:
      numamove move 1234 --to 1
      numamove move 1234 --to 0:1,1:1 --vma heap --dry-run
      numamove move 1234 --from 0 --to 2 --rate 200
      numamove move cgroup:system.slice/db.service --to 1 --yes

    \b
    Exit status:
      0    every present page in scope ended where asked
      1    an error, or pages that could move did not (or the process exited)
      2    bad arguments
      3    all that could move landed, but pages other processes map were
           left (--all moves them; --vma anon leaves shared libraries out)
      130  interrupted: the move stops after the running call and reports
    """
    from numamove._syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
    from numamove.mover import balance, move_units, one_node, plan, thread_nodes, units_from_scan
    from numamove.nodemask import parse_nodemask
    from numamove.placement import scan_process, vma_selector
    from numamove.topology import read_topology

    budget_seconds, rate_bytes = _pacing(budget, rate)
    pids = _targets(kernel, target)
    topology = read_topology(kernel)  # once: node checks, free memory and fallbacks all use it
    follow_threads = to == "threads"
    weights = {} if follow_threads else _target_weights(to, kernel, topology)
    address_ranges = _ranges(ranges)
    sources = None if from_nodes is None else parse_nodemask(from_nodes, kernel.online_nodes(),
                                                              kernel.node_limit())
    for pid in pids:
        _check_move(kernel, topology, pid, weights, move_all)
    chooser = one_node(next(iter(weights))) if len(weights) == 1 else balance(weights) if weights else None
    documents = []
    problems: list[str] = []
    shared_left = interrupted = False
    try:
        with _interruptible() as stop:
            for pid in pids:
                if stop():
                    break
                scan = scan_process(pid, kernel=kernel, pages=True, policies=False, select=vma_selector(vma)
                                    if vma else None, ranges=address_ranges, present_only=True)
                if follow_threads:  # each process's pages go where its own threads run
                    chooser = thread_nodes(scan)
                    _check_move(kernel, topology, pid, {t.node for t in scan.threads if t.node is not None},
                                move_all)
                assert chooser is not None
                units = units_from_scan(scan)
                if sources is not None:
                    import numpy as np

                    units = units.subset(np.isin(units.nodes, list(sources)) | (units.nodes < 0))
                if dry_run:
                    result = plan(units, chooser)
                else:
                    update, finish = _progress(f"pid {pid}")
                    try:
                        result = move_units(pid, units, chooser,
                                            flags=MPOL_MF_MOVE_ALL if move_all else MPOL_MF_MOVE,
                                            budget=budget_seconds, rate=rate_bytes,
                                            fallback=_fallbacks(topology, weights) if len(weights) > 1
                                            else None,
                                            progress=update, stop=stop, kernel=kernel)
                    finally:
                        finish()
                interrupted |= result.interrupted
                shared_left |= result.skipped_shared > 0
                if result.stopped and not result.interrupted:
                    problems.append(result.stopped)
                elif result.failed:
                    problems.append(f"{sum(result.failed.values())} pages of pid {pid} did not end where "
                                    "asked")
                if as_json:
                    documents.append({"pid": pid, "dry_run": dry_run, "budget_ms": budget_seconds * 1000,
                                      **result.to_dict()})
                else:
                    _print_move(pid, result, dry_run, None if dry_run else budget_seconds)
            interrupted |= stop()  # Ctrl-C after the last call, or before a process it then skipped
    except KeyboardInterrupt:
        _hard_interrupt()
    if as_json:
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=1))
    status = move_exit_status(interrupted=interrupted, failed=bool(problems), shared_left=shared_left)
    _explain_exit(status, problems)


def _explain_exit(status: int, problems: Sequence[str]) -> None:
    """One line on stderr for a non-zero status, then exit with it."""
    if status == EXIT_INTERRUPTED:
        click.echo("numamove: interrupted: stopped after the running call; the summary says what moved",
                   err=True)
    elif status == EXIT_ERROR:
        click.echo(f"numamove: error: {'; '.join(problems)}", err=True)
    elif status == EXIT_SHARED_LEFT:
        click.echo("numamove: pages other processes map were left where they are (exit status 3); "
                   "--all moves them", err=True)
    if status:
        sys.exit(status)


@main.command()
@click.argument("target")
@click.argument("from_nodes", metavar="FROM")
@click.argument("to_nodes", metavar="TO")
@click.option("--chunked", is_flag=True, help="Move through the mover (rate limit, budget) instead of one "
                                              "migrate_pages(2) call.")
@click.option("--rate", type=float, metavar="MB/s", help="With --chunked: " + RATE_HELP)
@click.option("--budget", type=float, metavar="MS", help="With --chunked: " + BUDGET_HELP)
@yes_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
@reports_errors
def migrate(kernel: Kernel, target: str, from_nodes: str, to_nodes: str, chunked: bool, rate: float | None,
            budget: float | None, as_json: bool) -> None:
    """Move all pages of TARGET from nodes FROM to nodes TO, like numactl's migratepages.

    FROM and TO use numactl's nodemask syntax; the n-th node of FROM goes to
    the n-th node of TO, as migrate_pages(2) maps them. Without CAP_SYS_NICE
    the kernel leaves pages other processes map where they are: the summary
    counts what stayed on the FROM nodes. Exit statuses as for move. A name
    pattern or a cgroup that selects several processes lists them and needs
    --yes (on a terminal, it asks).

    \b
    TARGET is one of:
      1234           a pid
      1234,5678      several pids (commas, no spaces)
      redis          a regular expression searched in process names, as pgrep does
      name:REGEX     the same, for a name that looks like a pid or a path
      cgroup:PATH    every process of a cgroup v2 group and its descendants
      /PATH          the same (PATH relative to /sys/fs/cgroup, or under it)

    Kernel threads and zombies have no user memory: named by pid they are
    refused, and a pattern or a cgroup leaves them out.

    \b
    FROM and TO use numactl's nodemask syntax:
      1         node 1
      0-2,4     nodes 0, 1, 2 and 4
      all       every node the caller may use
      !0        every such node but node 0
      +0        the first such node (positions, not node ids)

    \b
    Examples:
      numamove migrate 1234 0 1            node 0 -> node 1
      numamove migrate 1234 0,1 2          nodes 0 and 1 -> node 2
      numamove migrate 1234 0-1 1-2        node 0 -> node 1, node 1 -> node 2
      numamove migrate redis 0 1 --chunked --rate 100 --yes
    """
    import errno

    import numpy as np

    from numamove._syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
    from numamove.errors import NodeOfflineError
    from numamove.mover import by_source, move_units, remap_nodes, units_from_scan
    from numamove.nodemask import format_nodemask
    from numamove.pages import migrate_pages, resolve_nodes
    from numamove.placement import scan_process
    from numamove.topology import read_topology

    if not chunked and (rate is not None or budget is not None):
        raise InvalidInputError("--rate and --budget pace a --chunked move; without --chunked, "
                                "migrate_pages(2) moves everything in one call")
    budget_seconds, rate_bytes = _pacing(budget, rate)
    pids = _targets(kernel, target)
    old = resolve_nodes(from_nodes, kernel, "FROM")
    new = resolve_nodes(to_nodes, kernel, "TO")
    offline = sorted(old - kernel.online_nodes())
    if offline:
        raise NodeOfflineError(errno.ENODEV, f"FROM node {format_nodemask(offline)} is not online "
                               f"(online: {format_nodemask(kernel.online_nodes())})", "")
    topology = read_topology(kernel)
    privileged = kernel.has_cap_sys_nice()
    for pid in pids:
        # move_pages(2) (--chunked) refuses a node outside the cpuset; migrate_pages(2) as root does not.
        _check_move(kernel, topology, pid, new, False, outside_cpuset="refuse" if chunked else "warn")
    leaving = sorted(old - new)  # the nodes migrate_pages(2) empties; nodes in both keep their pages
    documents = []
    problems: list[str] = []
    shared_left = interrupted = False
    try:
        with _interruptible() as stop:
            for pid in pids:
                if stop():
                    break
                before = scan_process(pid, kernel=kernel, detail=False).pages_by_node
                result = None
                if chunked:
                    mapping = remap_nodes(sorted(old), sorted(new))
                    scan = scan_process(pid, kernel=kernel, pages=True, policies=False, present_only=True)
                    units = units_from_scan(scan)
                    units = units.subset(np.isin(units.nodes, list(old)))
                    # migrate_pages(2) moves shared pages too when the caller may (CAP_SYS_NICE).
                    update, finish = _progress(f"pid {pid}")
                    try:
                        result = move_units(pid, units, by_source(mapping),
                                            flags=MPOL_MF_MOVE_ALL if privileged else MPOL_MF_MOVE,
                                            budget=budget_seconds, rate=rate_bytes, progress=update,
                                            stop=stop, kernel=kernel)
                    finally:
                        finish()
                    not_moved = sum(result.failed.values())
                else:
                    not_moved = migrate_pages(pid, old, new, kernel=kernel)
                after = scan_process(pid, kernel=kernel, detail=False).pages_by_node
                stayed = sum(after.get(node, 0) for node in leaving)
                # Without CAP_SYS_NICE the kernel skips pages other processes map and does not count
                # them as failures: what stayed beyond the failures is those.
                skipped_shared = (result.skipped_shared if result is not None
                                  else 0 if privileged else max(stayed - not_moved, 0))
                interrupted |= result is not None and result.interrupted
                shared_left |= skipped_shared > 0
                if result is not None and result.stopped and not result.interrupted:
                    problems.append(result.stopped)
                elif not_moved:
                    problems.append(f"{not_moved} pages of pid {pid} could not be moved")
                if as_json:
                    documents.append({"pid": pid, "before": {str(k): v for k, v in before.items()},
                                      "after": {str(k): v for k, v in after.items()}, "not_moved": not_moved,
                                      "stayed": stayed, "skipped_shared": skipped_shared,
                                      "move": None if result is None else result.to_dict()})
                    continue
                nodes = sorted(set(before) | set(after))
                print_table(f"pid {pid}: pages per node", ["", *(f"node{n}" for n in nodes)],
                            [["before", *(str(before.get(n, 0)) for n in nodes)],
                             ["after", *(str(after.get(n, 0)) for n in nodes)]])
                _print_stayed(stayed, not_moved, skipped_shared, leaving, privileged)
                if result is not None:
                    _print_move(pid, result, False, budget_seconds)
            interrupted |= stop()  # migrate_pages(2) is one call: Ctrl-C skips the processes after it
    except KeyboardInterrupt:
        _hard_interrupt()
    if as_json:
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=1))
    status = move_exit_status(interrupted=interrupted, failed=bool(problems), shared_left=shared_left)
    _explain_exit(status, problems)


def _print_stayed(stayed: int, not_moved: int, skipped_shared: int, leaving: Sequence[int],
                  privileged: bool) -> None:
    from numamove.nodemask import format_nodemask

    where = f"node {format_nodemask(leaving)}" if leaving else "the FROM nodes"
    click.echo(f"  {stayed} pages stayed on {where}; {not_moved} could not be moved")
    if skipped_shared:
        click.echo(f"  {skipped_shared} of them are mapped by other processes too: the kernel moves those "
                   "only with MPOL_MF_MOVE_ALL, which needs CAP_SYS_NICE (run as root)")
    elif stayed > not_moved and privileged:
        click.echo(f"  {stayed - not_moved} of them the kernel did not report: new since the call, or not "
                   "migratable")
