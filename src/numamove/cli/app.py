"""The command-line app: the click group, error reporting, and what commands share.

``main`` is the ``numamove`` group (its commands live in numamove.cli.nodes, where, map,
move and migrate); ``reports_errors`` turns library errors into one line and an exit
status; ``scan_options``, ``yes_option``, ``select_targets``, ``parse_ranges`` and
``pacing`` read the options several commands take; ``interruptible`` turns the first
Ctrl-C into a stop flag for the mover. Only numamove.cli prints or exits.

May import: click, rich, numamove._entry, numamove._format, numamove.errors, and (inside
functions, so that ``numamove nodes`` loads neither numpy nor ctypes) any library module.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from numamove._entry import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    check_stdout_open,
    exit_on_output_error,
    interrupted,
    is_output_error,
)
from numamove.errors import InvalidInputError, NumaMoveError

if TYPE_CHECKING:
    from numamove.kernel import Kernel

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2  # click's own usage errors exit 2 too
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


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="numamove")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default="/", show_default=True,
              help="Read /proc and /sys under this directory (a captured tree, for example).")
@click.pass_context
def main(context: click.Context, root: str) -> None:
    """See where the pages of Linux processes live, and move them between NUMA nodes."""
    from numamove.kernel import Kernel

    context.obj = Kernel(root)


def _not_blank(_context: click.Context, _parameter: click.Parameter, value: str | None) -> str | None:
    """An option given as "" would otherwise read as not given at all (no filter)."""
    if value is not None and not value.strip():
        raise click.BadParameter("is empty: give a kind or a regular expression")
    return value


TARGET_FORMS = """\b
    TARGET is one of:
      1234           a pid
      1234,5678      several pids (commas, no spaces)
      redis          a regular expression searched in process names, as pgrep does
      name:REGEX     the same, for a name that looks like a pid or a path
      cgroup:PATH    every process of a cgroup v2 group and its descendants
      /PATH          the same (PATH relative to /sys/fs/cgroup, or under it)

    Kernel threads and zombies have no user memory: named by pid they are
    refused, and a pattern or a cgroup leaves them out."""

NODEMASK_FORMS = """1         node 1
      0-2,4     nodes 0, 1, 2 and 4
      all       every node the caller may use
      !0        every such node but node 0
      +0        the first such node (positions, not node ids)"""


def shared_help(command: F) -> F:
    """Fill a command's help with the paragraphs several commands share ({TARGET_FORMS},
    {NODEMASK_FORMS}); it goes below ``@main.command()``, which reads the docstring."""
    command.__doc__ = (command.__doc__ or "").replace("{TARGET_FORMS}", TARGET_FORMS).replace(
        "{NODEMASK_FORMS}", NODEMASK_FORMS)
    return command


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


def select_targets(kernel: Kernel, target: str) -> list[int]:
    """The pids of TARGET. In a command with --yes (move, migrate), a name pattern or cgroup that
    selects several processes needs --yes, or a "yes" on a terminal."""
    from numamove.targets import is_pid_list, resolve_targets

    pids = resolve_targets(target, kernel)
    context = click.get_current_context(silent=True)
    if context is None or context.meta.get(_YES, True) or len(pids) < 2 or is_pid_list(target):
        return pids
    shown = [f"{pid} {process_name(kernel, pid)}" for pid in pids[:SHOWN_TARGETS]]
    more = f", and {len(pids) - SHOWN_TARGETS} more" if len(pids) > SHOWN_TARGETS else ""
    if not on_terminal():
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


def on_terminal() -> bool:
    """Whether someone can answer a question: stdin is a terminal."""
    return sys.stdin is not None and sys.stdin.isatty()


def process_name(kernel: Kernel, pid: int) -> str:
    try:
        return kernel.read_text(f"proc/{pid}/comm").rstrip("\n")
    except OSError:
        return "(exited)"


def parse_ranges(texts: Sequence[str]) -> list[tuple[int, int]]:
    from numamove.scan import check_ranges
    from numamove.selection import parse_address_range

    return check_ranges([parse_address_range(text) for text in texts])


@contextlib.contextmanager
def interruptible() -> Iterator[Callable[[], bool]]:
    """While inside, the first Ctrl-C (SIGINT) only sets a flag (the yielded callable reads it), so
    a move ends after its running call; a second one raises numamove.signals.HardStop."""
    from numamove.signals import stop_flag

    with stop_flag([signal.SIGINT], second_raises=True) as asked:
        yield asked


def hard_interrupt() -> None:
    click.echo("numamove: interrupted: stopped at once; pages already moved stay where they are", err=True)
    sys.exit(EXIT_INTERRUPTED)


MIN_BUDGET_MS, MAX_BUDGET_MS, DEFAULT_BUDGET_MS = 1.0, 10_000.0, 20.0
MIN_RATE_MB = 0.01


def pacing(budget: float | None, rate: float | None) -> tuple[float, float | None]:
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


BUDGET_HELP = (f"Kernel time per move_pages(2) call, in milliseconds ({MIN_BUDGET_MS:g} to "
               f"{MAX_BUDGET_MS:g}; default {DEFAULT_BUDGET_MS:g}). The mover sizes each call from what "
               "pages cost so far; it does not bound a call: the kernel's fixed work per call (every CPU "
               "drains its page lists) and pages dearer than the ones before can take longer, on a busy "
               "machine much longer. The summary shows the median and longest call.")
RATE_HELP = f"at most this many MB per second (at least {MIN_RATE_MB:g}: two 4 KiB pages a second)."
