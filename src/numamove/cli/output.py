"""Output helpers of the command line: tables, the progress bar, a move's summary, the
closing line of move and migrate.

Tables are drawn with rich on a terminal and as plain aligned text when piped; the
progress bar shows only on a terminal.

May import: click, rich, numamove._format, numamove.status, numamove.move (results and
exit statuses; inside functions, so that importing this loads no numpy).
"""

from __future__ import annotations

import mmap
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from numamove._format import human_bytes

if TYPE_CHECKING:
    from numamove.move.result import MoveResult


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


def progress_amount(done: int, total: int) -> str:
    """What the progress bar shows: bytes handled of bytes to move, "12.0 MiB/64.0 MiB"."""
    return f"{human_bytes(done * mmap.PAGESIZE)}/{human_bytes(total * mmap.PAGESIZE)}"


def progress(label: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
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
        bar.update(task, completed=done, total=total, amount=progress_amount(done, total))

    def finish() -> None:
        if shown:  # a bar that never started (the scan failed first) has nothing to take down
            bar.stop()

    return update, finish


def print_move(pid: int, result: MoveResult, dry_run: bool, budget: float | None = None) -> None:
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


def explain_exit(status: int, problems: Sequence[str]) -> None:
    """One line on stderr for a non-zero status, then exit with it."""
    from numamove.move.pipeline import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_SHARED_LEFT

    if status == EXIT_INTERRUPTED:
        click.echo("numamove: interrupted: stopped after the running call; the summary says what moved",
                   err=True)
    elif status == EXIT_FAILED:
        click.echo(f"numamove: error: {'; '.join(problems)}", err=True)
    elif status == EXIT_SHARED_LEFT:
        click.echo("numamove: pages other processes map were left where they are (exit status 3); "
                   "--all moves them", err=True)
    if status:
        sys.exit(status)
