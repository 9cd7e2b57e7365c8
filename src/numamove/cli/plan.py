"""``numamove plan``: profile processes (or read a profile), ask a policy where their pages should
live, and show the plan: each move, where to and why. ``-o`` saves it for ``numamove apply``.

Argument parsing, printing and the exit; profiling, the snapshot and the policy are the library's
(numamove.planning, numamove.policy).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from numamove._format import human_bytes
from numamove.cli.app import interruptible, main, reports_errors, select_targets, shared_help
from numamove.cli.output import print_table
from numamove.cli.profile import (
    EXIT_INTERRUPTED,
    MAX_DURATION,
    MIN_INTERVAL,
    Reporter,
    parse_tracker_names,
    parse_tracker_options,
    registry,
)
from numamove.errors import InvalidInputError

if TYPE_CHECKING:
    from numamove.kernel import Kernel
    from numamove.policy.plan import Plan
    from numamove.profile.report import Report

DEFAULT_TRACKERS = (("damon", "threads"), ("softdirty", "threads"), ("idlepage", "threads"))
"""The trackers ``plan`` profiles with when --tracker is not given: the first set that runs here."""


def parse_policy_options(texts: Sequence[str]) -> dict[str, str]:
    """--policy-option KEY=VALUE, repeatable; a key given twice is refused."""
    options: dict[str, str] = {}
    for text in texts:
        key, equals, value = text.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise InvalidInputError(f"--policy-option is KEY=VALUE (budget=256M), not {text!r}")
        if key.strip() in options:
            raise InvalidInputError(f"--policy-option {key.strip()!r} is given twice")
        options[key.strip()] = value.strip()
    return options


def default_trackers(kernel: Kernel) -> list[str]:
    """The first of :data:`DEFAULT_TRACKERS` whose trackers all run here."""
    usable = registry().available(kernel)
    for names in DEFAULT_TRACKERS:
        if all(name in usable and usable[name].usable for name in names):
            return list(names)
    why = "; ".join(f"{name}: {usable[name].why}" for name in ("damon", "softdirty") if name in usable)
    raise InvalidInputError(f"no tracker that measures heat runs here ({why}); `numamove doctor` says more")


@main.command()
@shared_help
@click.argument("target", required=False)
@click.option("--policy", "policy_name", required=True, metavar="NAME",
              help="The policy: locality, tiering, balance, log (or one a plugin registered).")
@click.option("--policy-option", "policy_options", metavar="KEY=VALUE", multiple=True,
              help="An option of the policy, e.g. budget=256M or hold=3; repeatable.")
@click.option("--tracker", "tracker_names", metavar="NAME[,NAME]",
              help="Trackers to profile with (default: damon,threads where DAMON runs, else "
                   "softdirty,threads).")
@click.option("--tracker-option", "tracker_options", metavar="NAME.KEY=VALUE", multiple=True,
              help="An option of one tracker, e.g. damon.aggregation=100ms; repeatable.")
@click.option("--duration", default="10s", show_default=True, metavar="S", help="How long to profile.")
@click.option("--interval", default="1s", show_default=True, metavar="S", help="The profile's interval.")
@click.option("--profile", "profile_file", metavar="FILE",
              help="Plan from this profile log (`numamove profile -o FILE`) instead of profiling now; "
                   "TARGET then narrows it to some of its processes.")
@click.option("-o", "--output", metavar="PLAN.json", help="Save the plan, for `numamove apply`.")
@click.option("--top", type=click.IntRange(1, 1_000_000), default=20, show_default=True,
              help="Moves listed in the text output.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (what -o saves).")
@click.pass_obj
@reports_errors
def plan(kernel: Kernel, target: str | None, policy_name: str, policy_options: tuple[str, ...],
         tracker_names: str | None, tracker_options: tuple[str, ...], duration: str, interval: str,
         profile_file: str | None, output: str | None, top: int, as_json: bool) -> None:
    """Show where the pages of TARGET should live, and why.

    \b
    Profiles TARGET for --duration (or reads --profile FILE), reads where its
    pages are now, and asks the policy for moves. Each move names a range,
    its source and target node, its pages and a reason; the summary gives the
    expected gain: bytes made local, hot bytes promoted, cold bytes demoted.
    Nothing moves: `numamove apply PLAN.json` carries out a saved plan.

    \b
    Policies: locality (hot memory to the node of the threads that use it,
    shared memory too), tiering (the hot set that fits the fast tier up,
    cold memory down), balance (spread by free memory, capacity or weights),
    log (what an access log says is used mostly from another node).

    \b
    Examples:
      numamove plan postgres --policy locality -o plan.json
      numamove plan 4242 --policy tiering --tracker damon --duration 30s
      numamove plan --profile redis.jsonl --policy locality --policy-option budget=256M
    """
    from numamove._inputs import parse_duration
    from numamove.planning.run import plan_from_report
    from numamove.policy.base import REGISTRY  # numamove.policy registers numamove's own policies

    policy = REGISTRY.build(policy_name, parse_policy_options(policy_options))
    if output is not None:
        check_writable(output)
    if profile_file is not None:
        if tracker_names or tracker_options:
            raise InvalidInputError("--profile plans from a profile log: --tracker and --tracker-option do "
                                    "not apply")
        report = read_profile(profile_file)
        pids = None if target is None else select_targets(kernel, target)
    else:
        if target is None:
            raise click.UsageError("TARGET is required (a pid, pids, a name pattern or a cgroup), or "
                                   "--profile FILE")
        seconds = parse_duration(interval, "--interval", low=MIN_INTERVAL, high=60.0)
        length = parse_duration(duration, "--duration", low=MIN_INTERVAL, high=MAX_DURATION)
        if length < seconds:
            raise InvalidInputError(f"--duration ({duration}) is shorter than --interval ({interval})")
        pids = select_targets(kernel, target)
        report = profile_now(kernel, target, pids, tracker_names, tracker_options, seconds, length)
    made, _ = plan_from_report(kernel, policy, report, pids=pids)
    if output is not None:
        save_plan(made, output)
    if as_json:
        click.echo(made.to_json(), nl=False)
    else:
        print_plan(made, top, output)


def profile_now(kernel: Kernel, target: str, pids: list[int], tracker_names: str | None,
                tracker_options: tuple[str, ...], interval: float, duration: float) -> Report:
    """Profile ``pids`` for ``duration`` (in memory); Ctrl-C ends it with no plan (exit 130)."""
    from numamove.planning.run import record_report

    names = parse_tracker_names(tracker_names) if tracker_names else default_trackers(kernel)
    trackers = registry().build(kernel, pids, names, parse_tracker_options(tracker_options, names))
    reporter = Reporter(f"profile {target} ({','.join(names)})", duration)
    try:
        with interruptible() as interrupted:
            report, recording = record_report(kernel, pids, trackers, interval=interval, duration=duration,
                                              spec=target, stop=interrupted, on_interval=reporter)
    except KeyboardInterrupt:
        recording = None
    finally:
        reporter.close()
    if recording is None or recording.reason == "interrupted":
        click.echo("numamove: interrupted: no plan made", err=True)
        sys.exit(EXIT_INTERRUPTED)
    return report


def read_profile(path: str) -> Report:
    from numamove.cli.report import read_log
    from numamove.profile.report import analyze

    records, bad_lines, _ = read_log(path)
    try:
        found = analyze(records, bad_lines=bad_lines)
    except InvalidInputError as error:
        raise InvalidInputError(f"{path}: {error}") from None
    for warning in found.warnings:
        click.echo(f"numamove: warning: {path}: {warning}", err=True)
    return found


def check_writable(path: str) -> None:
    """Refuse -o before a long profile: a folder that does not exist, or a directory."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InvalidInputError(f"-o {path}: is a directory")
    if not os.path.isdir(folder):
        raise InvalidInputError(f"-o {path}: the folder {folder} does not exist")


def save_plan(made: Plan, path: str) -> None:
    """Write the plan through a temporary file beside it, then rename: never half a plan."""
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(made.to_json())
        os.replace(temporary, path)
    except OSError as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise InvalidInputError(f"cannot write the plan {path}: {error.strerror or error}") from None


def print_plan(made: Plan, top: int, output: str | None) -> None:
    summary = made.summary()
    who = ", ".join(f"{p.pid}" + (f" ({p.name})" if p.name else "") for p in made.processes)
    click.echo(f"{made.policy} plan for {who}: {summary['moves']} moves, "
               f"{human_bytes(summary['pages'] * made.page_size)}")
    if made.moves:
        rows = [[str(m.pid), f"{m.start:#x}-{m.end:#x}", human_bytes(m.pages * made.page_size),
                 f"{m.source}->{m.target}", m.kind, m.reason] for m in made.moves[:top]]
        print_table(None, ["pid", "range", "pages", "nodes", "kind", "reason"], rows)
        if len(made.moves) > top:
            click.echo(f"  ... and {len(made.moves) - top} more moves (--top, --json)")
    gains = [f"{human_bytes(summary['local_bytes_gained'])} made local"] if summary["locality_bytes"] else []
    for kind, words in (("promote", "hot bytes promoted"), ("demote", "cold bytes demoted"),
                        ("balance", "bytes rebalanced")):
        if summary[f"{kind}_bytes"]:
            gains.append(f"{human_bytes(summary[f'{kind}_bytes'])} {words}")
    if gains:
        click.echo("expected: " + ", ".join(gains))
    for note in made.notes:
        click.echo(f"note: {note}")
    if output is not None:
        click.echo(f"saved to {output}: `numamove apply {output}` carries it out")
    elif made.moves:
        click.echo("nothing moved: -o PLAN.json saves the plan for `numamove apply`")
