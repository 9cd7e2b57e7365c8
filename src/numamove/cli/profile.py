"""``numamove profile``: track processes over intervals and write a profile log (JSON Lines).

Argument parsing, the tracker choice, Ctrl-C and SIGTERM, the progress line and
the summary; the loop is numamove.profile.recorder's, the file
numamove.profile.log's.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from numamove import _inputs
from numamove._format import human_bytes
from numamove.cli.app import interruptible, main, reports_errors, select_targets, shared_help
from numamove.errors import InvalidInputError
from numamove.signals import stop_flag

if TYPE_CHECKING:
    from numamove.kernel import Kernel
    from numamove.profile.log import ProfileWriter
    from numamove.profile.recorder import Progress, Recording
    from numamove.trackers.base import TrackerInfo, TrackerRegistry

MIN_INTERVAL, MAX_INTERVAL = 0.01, 3600.0
MAX_DURATION = 30 * 86400.0
MIN_SIZE, MAX_SIZE = 4096, 1 << 40
EXIT_TARGET_EXITED = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a command that SIGTERM stopped


def registry() -> TrackerRegistry:
    """numamove's trackers (tests put a registry of their own in numamove.trackers.base.REGISTRY)."""
    from numamove.trackers import base

    return base.REGISTRY


def parse_size(text: str) -> int:
    """--max-size in bytes, from 4K to 1T."""
    return _inputs.parse_size(text, "--max-size", low=MIN_SIZE, high=MAX_SIZE)


def parse_tracker_names(text: str) -> list[str]:
    """--tracker NAME[,NAME]: each tracker once, separated by commas."""
    names = [name.strip() for name in text.split(",")]
    if len(set(names)) != len(names) or not all(names):
        raise InvalidInputError(f"--tracker names each tracker once, separated by commas: not {text!r}")
    return names


def parse_tracker_options(texts: Sequence[str], chosen: Sequence[str]) -> dict[str, dict[str, str]]:
    """--tracker-option NAME.KEY=VALUE, grouped by tracker; NAME must be one of ``chosen``."""
    options: dict[str, dict[str, str]] = {name: {} for name in chosen}
    for text in texts:
        name, dot, rest = text.partition(".")
        key, equals, value = rest.partition("=")
        if not (dot and equals and name and key):
            raise InvalidInputError(f"--tracker-option is NAME.KEY=VALUE (damon.aggregation=100ms), "
                                    f"not {text!r}")
        if name not in options:
            raise InvalidInputError(f"--tracker-option {text!r} is for tracker {name!r}, which --tracker "
                                    f"does not name ({', '.join(chosen)})")
        options[name][key] = value
    return options


class Reporter:
    """The progress of a recording: a rich line on a terminal (stderr), a plain line a second when piped."""

    def __init__(self, label: str, duration: float | None) -> None:
        self.label, self.duration = label, duration
        self.live: Any = None
        self.shown = 0.0
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.live = Progress(TextColumn(label), BarColumn(), TextColumn("{task.fields[status]}"),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.task = self.live.add_task(label, total=duration, status="starting")
            self.live.start()

    def __call__(self, progress: Progress) -> None:
        of = f" of {self.duration:g} s" if self.duration else ""
        status = (f"interval {progress.index + 1}, {progress.time:.1f} s{of}, {progress.regions} regions, "
                  f"{human_bytes(progress.bytes)} written" + (f" ({progress.parts} parts)"
                                                               if progress.parts > 1 else ""))
        if self.live is not None:
            self.live.update(self.task, completed=progress.time, status=status)
        elif time.monotonic() - self.shown >= 1.0:
            self.shown = time.monotonic()
            click.echo(f"{self.label}: {status}", err=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


@main.command()
@shared_help
@click.argument("target", required=False)
@click.option("--tracker", "tracker_names", metavar="NAME[,NAME]",
              help="The trackers, comma-separated: heat from the first, the accessing nodes from the "
                   "others (e.g. damon,threads). `numamove doctor` says which work here.")
@click.option("--duration", metavar="S", help="How long to record (5s, 10m, 1h); default: until Ctrl-C, "
              "SIGTERM or the target exits.")
@click.option("--interval", metavar="S", default="1s", show_default=True,
              help="Time between samples (10ms to 1h).")
@click.option("-o", "--output", metavar="FILE", required=True, help="The profile log to write (JSON Lines).")
@click.option("--max-size", metavar="SIZE", default="256M", show_default=True,
              help="Rotate the log when it would pass this size: FILE becomes FILE.1, and so on.")
@click.option("--keep", type=click.IntRange(0, 1000), default=4, show_default=True,
              help="Rotated parts to keep (FILE.1 ... FILE.N); older ones are deleted.")
@click.option("--tracker-option", "tracker_options", metavar="NAME.KEY=VALUE", multiple=True,
              help="An option of one tracker, e.g. damon.aggregation=100ms; repeatable.")
@click.option("--log", "access_log", metavar="FILE",
              help="Convert this access log (perf script text or JSON Lines) instead of tracking; TARGET "
                   "is then optional and, when given, gives the regions their placement now.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of text.")
@click.pass_obj
@reports_errors
def profile(kernel: Kernel, target: str | None, tracker_names: str | None, duration: str | None,
            interval: str, output: str, max_size: str, keep: int, tracker_options: tuple[str, ...],
            access_log: str | None, as_json: bool) -> None:
    """Record which memory of TARGET is hot, and where it lives, over time.

    Every --interval the trackers are sampled; each region they report is
    written with its heat, whether it was written, the nodes whose CPUs
    accessed it (where a tracker tells), and its pages per node (from
    /proc/PID/pagemap); each process's resident pages per node too (numa_maps).
    Ctrl-C or SIGTERM closes the log with what was seen. `numamove report FILE`
    reads it.

    {TARGET_FORMS}

    \b
    Examples:
      numamove profile 1234 --tracker softdirty --duration 30s -o hot.jsonl
      numamove profile redis --tracker damon,threads --interval 500ms --duration 10m -o redis.jsonl
      numamove profile --log perf-mem.txt --interval 1s -o from-perf.jsonl

    \b
    Exit status:
      0    recorded for --duration (or a whole --log converted)
      1    an error; or the target exited (the log holds what was seen)
      2    bad arguments
      130  Ctrl-C: the log is closed with what was seen
      143  SIGTERM: the same
    """
    from numamove._inputs import parse_duration

    seconds = parse_duration(interval, "--interval", low=MIN_INTERVAL, high=MAX_INTERVAL)
    length = None if duration is None else parse_duration(duration, "--duration", low=MIN_INTERVAL,
                                                          high=MAX_DURATION)
    if length is not None and length < seconds:
        raise InvalidInputError(f"--duration ({duration}) is shorter than --interval ({interval})")
    cap = parse_size(max_size)
    if access_log is not None:
        if tracker_names or tracker_options or duration:
            raise InvalidInputError("--log converts an access log: --tracker, --tracker-option and "
                                    "--duration do not apply")
        finish(convert_log(kernel, access_log, target, seconds, output, cap, keep), output, as_json)
        return
    if target is None:
        raise click.UsageError("TARGET is required (a pid, pids, a name pattern or a cgroup), or --log FILE")
    if not tracker_names:
        raise click.UsageError("--tracker is required: name one or more trackers (damon, softdirty, ...)")
    names = parse_tracker_names(tracker_names)
    options = parse_tracker_options(tracker_options, names)
    pids = select_targets(kernel, target)
    trackers = registry().build(kernel, pids, names, options)
    from numamove.profile.recorder import build_header, record

    writer = open_log(output, build_header(kernel, pids, [t.info for t in trackers], spec=target,
                                           interval=seconds), cap, keep)
    label = f"profile {target}"
    reporter = Reporter(label, length)
    try:
        with interruptible() as interrupted, stop_flag([signal.SIGTERM]) as terminated:
            def stop() -> str | None:
                return "terminated" if terminated() else "interrupted" if interrupted() else None

            result = record(kernel, pids, trackers, interval=seconds, duration=length, writer=writer,
                            stop=stop, on_interval=reporter)
    except KeyboardInterrupt:  # a second Ctrl-C: the recorder closed the log on its way out
        reporter.close()
        click.echo(f"numamove: interrupted: {output} is closed with the {writer.intervals} intervals seen",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BaseException:
        reporter.close()
        discard_if_empty(writer)
        raise
    reporter.close()
    finish(result, output, as_json, trackers=[t.info for t in trackers], pids=pids)


def open_log(output: str, header: Any, cap: int, keep: int) -> ProfileWriter:
    from numamove.profile.log import ProfileWriter

    return ProfileWriter(output, header, max_size=cap, keep=keep)


def discard_if_empty(writer: ProfileWriter) -> None:
    """A log that failed before its first interval holds a header only: remove it, not leave it to mislead."""
    import os

    writer.close()
    if writer.intervals == 0 and writer.parts == 1:
        with contextlib.suppress(OSError):
            os.remove(writer.path)


def convert_log(kernel: Kernel, path: str, target: str | None, interval: float, output: str, cap: int,
                keep: int) -> Recording:
    """--log: an access log read (its bad lines warned about), cut into intervals, written as a profile."""
    from numamove.profile.recorder import build_header, replay
    from numamove.topology import cpu_node_map
    from numamove.trackers.accesslog import INFO, access_regions, read_access_log
    from numamove.units import PAGE_SIZE

    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            log = read_access_log(file, cpu_nodes=cpu_node_map(kernel), page_size=PAGE_SIZE)
    except OSError as error:
        raise InvalidInputError(f"cannot read the access log {path}: {error.strerror or error}") from None
    errors = log.errors
    intervals = access_regions(log, interval=interval)
    if errors:
        first = "; ".join(f"line {error.line}: {error.why}" for error in errors[:3])
        click.echo(f"numamove: warning: {len(errors)} lines of {path} skipped ({first})", err=True)
    if not any(intervals):
        raise InvalidInputError(f"the access log {path} holds no access numamove could read")
    pids = select_targets(kernel, target) if target is not None else sorted(
        {region.pid for regions in intervals for region in regions})
    header = build_header(kernel, pids, [INFO], spec=target or path, interval=interval)
    writer = open_log(output, header, cap, keep)
    wanted = set(pids)
    try:
        return replay(kernel, [[r for r in regions if r.pid in wanted] for regions in intervals],
                      interval=interval, writer=writer, place=target is not None)
    except BaseException:
        discard_if_empty(writer)
        raise


def finish(result: Recording, output: str, as_json: bool, *, trackers: Sequence[TrackerInfo] = (),
           pids: Sequence[int] = ()) -> None:
    """The summary (text or --json), then the exit status the way the run ended."""
    if as_json:
        click.echo(json.dumps({"file": output, "intervals": result.intervals, "regions": result.regions,
                               "trackers": [info.name for info in trackers] or ["accesslog"],
                               "reason": result.reason, "pids": list(pids), "exited": list(result.exited),
                               "bytes": result.bytes, "parts": result.parts,
                               "seconds": round(result.time, 3)}, indent=1))
    else:
        parts = f" in {result.parts} parts" if result.parts > 1 else ""
        click.echo(f"{output}: {result.intervals} intervals, {result.regions} region records, "
                   f"{human_bytes(result.bytes)}{parts}; ended: {result.reason}")
    if result.reason == "interrupted":
        click.echo(f"numamove: interrupted: {output} is closed with what was seen", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.reason == "terminated":
        click.echo(f"numamove: terminated: {output} is closed with what was seen", err=True)
        sys.exit(EXIT_TERMINATED)
    if result.reason == "target exited":
        which = f"pid {', '.join(map(str, result.exited))}" if result.exited else "the target"
        click.echo(f"numamove: error: {which} exited; {output} holds the {result.intervals} "
                   "intervals seen", err=True)
        sys.exit(EXIT_TARGET_EXITED)
