"""Fuzz the command line: a few hundred generated argument lists per command, against a live process.

Each command (nodes, where, map, move, migrate; profile, report, doctor) runs with argument lists
drawn from a fixed seed (cli_fuzz_cases.py), valid values mixed with adversarial ones, against a live process
(fuzz_child.py) that holds anonymous memory on nodes 0 and 1, a MAP_SHARED buffer on the
memory-only node, a THP block and, when the guest reserved hugetlb pages, a hugetlb page. The runs
are in-process (click's CliRunner on numamove.cli.main, reading the real /proc and /sys), since
starting Python in the emulated guest costs seconds; eleven go through the real entry points
(`.venv/bin/numamove`, `python -m numamove`), in a thread beside the others.

What every run must show (what is accepted, exactly):
- no traceback: no exception other than SystemExit escapes the command, the output holds no
  "Traceback" nor "Exception ignored", and no Python warning is issued;
- an exit status in the documented set: 0 success, 1 error, 2 usage error, 3 only pages that other
  processes map were left, 130 interrupted;
- stderr made of numamove's own lines, each starting with "numamove: ": exactly one
  "numamove: error: ..." on exit 1, at most one otherwise, none on exit 0; other lines are
  notes and warnings ("numamove: warning: ..."). Exit 2 may instead show click's usage block:
  "Usage: ..." and "Try '...' for help." lines, a blank line and one "Error: ..." line, last
  (continued over more lines only by the newlines of an argument it quotes);
- with --json, stdout is empty or one JSON document;
- the run ends within SECONDS_PER_RUN (SLOW_SECONDS when it draws a PNG, PROFILE_SECONDS when it
  may record): a hang is a failure.
After each run that may move pages, and after all runs, the child is alive and every buffer's
checksum is the one it had. After each profile run (at most ~2 s of recording each), no kdamond is
on, nr_kdamonds is 0 and /run/numamove-damon.json claims none. report reads small profile logs
recorded at the start and corrupted copies of one; profile --log reads generated access logs.
For profile, report and doctor the documented statuses are 0, 1, 2 and 130 (profile's 143 needs a
SIGTERM, never sent here); profile's plain progress lines ("profile TARGET: interval N, ...") and
report's "wrote OUT" (on stderr under --json) are accepted on stderr. The failure message lists
every distinct failing argument list, grouped by exception type (and the function that raised it)
or exit status and stderr shape.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

import pytest
from click.testing import CliRunner

from numamove.cli import main

from .cli_fuzz_cases import Case, CaseFactory, Scene
from .conftest import Layout

SEED = 20261201
RUNS_PER_COMMAND = {**dict.fromkeys(("nodes", "where", "map", "move", "migrate"), 200),
                    "profile": 40, "report": 40, "doctor": 30}
SECONDS_PER_RUN = 15.0
MOVE_SECONDS = 40.0
"""For a run that may move pages: a real move of the whole child can take seconds in a busy guest."""
CHECK_EVERY = 4
"""The child's checksums are taken after every this many runs that may have moved its pages."""
SLOW_SECONDS = 90.0
"""For a run that draws a PNG: seconds in the emulated guest."""
SECONDS_PER_PROCESS = 60.0
DOCUMENTED_EXITS = frozenset({0, 1, 2, 3, 130})
PROFILING_EXITS = frozenset({0, 1, 2, 130})
"""profile, report and doctor: no 3; profile's 143 (SIGTERM) is never sent here."""
PROFILING = ("profile", "report", "doctor")
PROFILE_SECONDS = 40.0
"""For a profile run that may record: ~2 s of sampling, and starting and stopping a kdamond."""
DAMON_ADMIN = Path("/sys/kernel/mm/damon/admin/kdamonds")
DAMON_RECORD = Path("/run/numamove-damon.json")
# One argument can make today's code allocate without bound (a node mask of 10^11 nodes): the
# address-space limit turns that into a MemoryError (a failure) instead of the guest's OOM killer.
ADDRESS_SPACE_MARGIN = 384 << 20
PROCESS_ADDRESS_SPACE = 1 << 30


# --- the live process -------------------------------------------------------------------------------


@dataclass
class Child:
    """fuzz_child.py, running: its buffers and their checksums at the start."""

    process: subprocess.Popen[str]
    buffers: dict[str, tuple[int, int]]
    digests: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def current_digests(self) -> dict[str, str] | None:
        """The child's checksums now; None once it is gone."""
        assert self.process.stdin and self.process.stdout
        try:
            self.process.stdin.write("checksum\n")
            self.process.stdin.flush()
            reply = self.process.stdout.readline()
        except OSError:
            return None
        return json.loads(reply) if reply else None


@contextmanager
def live_child(layout: Layout) -> Iterator[Child]:
    zero, one = layout.cpu_nodes
    hugetlb = hugetlb_free(one) >= 1
    command = [sys.executable, "-S", str(Path(__file__).with_name("fuzz_child.py")), str(zero), str(one),
               str(layout.memory_only), str(int(hugetlb))]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout
        report = json.loads(process.stdout.readline())
        buffers = {name: (int(start), int(length)) for name, (start, length) in report["buffers"].items()}
        yield Child(process, buffers, report["digests"])
    finally:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def hugetlb_free(node: int) -> int:
    path = f"/sys/devices/system/node/node{node}/hugepages/hugepages-2048kB/free_hugepages"
    try:
        with open(path) as file:
            return int(file.read())
    except OSError:
        return 0


@contextmanager
def spare_pids() -> Iterator[tuple[int, int]]:
    """A zombie (exited, not yet reaped) and the pid of a process that is gone (reaped)."""
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)
    zombie = os.fork()
    if zombie == 0:
        os._exit(0)
    try:
        yield zombie, gone
    finally:
        os.waitpid(zombie, 0)


# --- running and judging one argument list ---------------------------------------------------------


class RunTimedOut(BaseException):
    """Raised by the alarm in a run that took too long; not an Exception, so nothing in between catches it."""


@dataclass
class Outcome:
    exit_code: int | None
    stdout: str
    stderr: str
    exception: BaseException | None = None
    traceback: TracebackType | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise RunTimedOut


def run_in_process(runner: CliRunner, arguments: list[str], timeout: float) -> Outcome:
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", quiet)  # what Python shows a user by default
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                result = runner.invoke(main, arguments, catch_exceptions=True)
            except RunTimedOut:
                return Outcome(None, "", "", RunTimedOut(), None, [], time.monotonic() - started)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    exc_info = result.exc_info
    return Outcome(result.exit_code, result.stdout, result.stderr, result.exception,
                   exc_info[2] if exc_info else None,
                   [f"{w.category.__name__}: {w.message}" for w in caught], time.monotonic() - started)


USAGE_LINE = re.compile(r"(Usage: |Try '.*' for help\.$|$)")


PROGRESS = re.compile(r"^profile .*?: interval \d+, [^\n]*\n", re.MULTILINE | re.DOTALL)
"""profile's plain progress line, a second apart when stderr is no terminal (TARGET may hold newlines)."""
WROTE = re.compile(r"^wrote .*\.(png|jpg)\n", re.MULTILINE)
"""report --json --heatmap says where it drew on stderr, stdout being the JSON."""


def _stderr_problem(code: int, stderr: str, arguments: list[str], command: str = "") -> str | None:
    """What is wrong with stderr for this exit status, or None (see the module's docstring)."""
    if command == "profile":
        stderr = PROGRESS.sub("", stderr)
    elif command == "report" and "--json" in arguments:
        stderr = WROTE.sub("", stderr)
    lines = stderr.splitlines()
    if code == 2 and lines and not lines[-1].startswith("numamove: "):
        errors = [index for index, line in enumerate(lines) if line.startswith("Error: ")]
        # click quotes an argument as given: its own newlines may continue the "Error: " line.
        last = len(lines) - 1 - sum(argument.count("\n") for argument in arguments)
        if (len(errors) == 1 and last <= errors[0] <= len(lines) - 1
                and all(USAGE_LINE.match(line) for line in lines[:errors[0]])):
            return None
        return "is neither one numamove line nor click's usage block"
    foreign = [line for line in lines if not line.startswith("numamove: ")]
    if foreign:
        return "has lines that are not numamove's"
    error_lines = sum(line.startswith("numamove: error: ") for line in lines)
    if code == 1 and error_lines != 1:
        return f"has {error_lines} 'numamove: error:' lines (exit 1 needs exactly one)"
    if code == 0 and error_lines:
        return "has an error line though the exit status is 0"
    if error_lines > 1:
        return f"has {error_lines} error lines"
    return None


def _raised_in(traceback: TracebackType | None) -> str:
    """The innermost numamove function of a traceback, as "module.function"."""
    place = "?"
    while traceback is not None:
        code = traceback.tb_frame.f_code
        module = traceback.tb_frame.f_globals.get("__name__", "?")
        if module.startswith("numamove") or place == "?":
            place = f"{module}.{code.co_name}"
        traceback = traceback.tb_next
    return place


def judge(case: Case, outcome: Outcome) -> list[tuple[str, str]]:
    """The problems of one run: (class, detail) pairs; none when the run is acceptable."""
    problems: list[tuple[str, str]] = []
    first_err = (outcome.stderr.strip().splitlines() or [""])[-1][:160]
    if isinstance(outcome.exception, RunTimedOut):
        return [("hang: no result in time", f"after {outcome.seconds:.0f} s")]
    if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
        name = type(outcome.exception).__name__
        problems.append((f"exception {name} from {_raised_in(outcome.traceback)}",
                         f"{name}: {str(outcome.exception)[:160]}"))
    for text in ("Traceback", "Exception ignored"):
        if text in outcome.stdout or text in outcome.stderr:
            problems.append((f"{text!r} in the output", first_err))
    for warning in outcome.warnings:
        problems.append((f"Python warning {warning.split(':')[0]}", warning[:160]))
    code = outcome.exit_code
    documented = PROFILING_EXITS if case.command in PROFILING else DOCUMENTED_EXITS
    if code not in documented:
        problems.append((f"exit status {code}, not in {sorted(documented)}", first_err))
    elif not problems:
        shape = _stderr_problem(code, outcome.stderr, case.arguments, case.command)
        if shape:
            problems.append((f"exit {code}: stderr {shape}", repr(outcome.stderr[:240])))
    if case.json and not case.help and code in (0, 1, 3) and outcome.stdout.strip() and not problems:
        try:
            json.loads(outcome.stdout)
        except ValueError:
            problems.append(("--json printed something that is not one JSON document",
                             repr(outcome.stdout[:120])))
    return problems


@dataclass
class Failures:
    by_class: dict[str, list[tuple[list[str], str]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, arguments: list[str], problems: list[tuple[str, str]]) -> None:
        for kind, detail in problems:
            self.by_class[kind].append((arguments, detail))

    def report(self, shown: int = 12) -> str:
        total = sum(len(failed) for failed in self.by_class.values())
        lines = [f"{total} failing runs in {len(self.by_class)} classes:"]
        for kind, runs in sorted(self.by_class.items(), key=lambda item: (item[0].split()[0], item[0])):
            distinct: dict[str, str] = {}
            for arguments, detail in runs:
                distinct.setdefault(" ".join(_quote(a) for a in arguments), detail)
            lines.append(f"== {kind}: {len(runs)} runs, {len(distinct)} distinct argument lists")
            for text, detail in list(distinct.items())[:shown]:
                lines.append(f"   numamove {text}" + (f"  ->  {detail}" if detail else ""))
            if len(distinct) > shown:
                lines.append(f"   ... and {len(distinct) - shown} more")
        return "\n".join(lines)


def _quote(argument: str) -> str:
    return argument if re.fullmatch(r"[\w.,:/+=@%^-]+", argument) else repr(argument)


@contextmanager
def address_space_limit(limit: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def address_space() -> int:
    with open("/proc/self/status") as status:
        found = re.search(r"VmSize:\s+(\d+) kB", status.read())
    assert found
    return int(found[1]) * 1024


def own_children() -> list[str]:
    """Processes whose parent is this one, as "pid (name) state"."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name_end = text.rindex(")")
        fields = text[name_end + 2:].split()
        if int(fields[1]) == me:
            found.append(f"{entry} {text[text.index('(') :name_end + 1]} {fields[0]}")
    return found


def child_damaged(child: Child, unchecked: list[list[str]], failures: Failures) -> bool:
    """Whether the child's buffers changed (or it died); if so, the unchecked runs are failures."""
    now = child.current_digests()
    damaged = now != child.digests
    for arguments in unchecked if damaged else []:
        failures.add(arguments, [("the child's data changed, or it died, after one of these runs",
                                  f"{now} != {child.digests}")])
    unchecked.clear()
    return damaged


def damon_left() -> str | None:
    """What a profile run left of DAMON: a kdamond on, kdamonds not removed, or an ownership record."""
    found = []
    try:
        count = int((DAMON_ADMIN / "nr_kdamonds").read_text())
    except (OSError, ValueError):
        count = 0
    if count:
        found.append(f"nr_kdamonds {count}")
    for state in sorted(DAMON_ADMIN.glob("*/state")):
        with contextlib.suppress(OSError):
            if state.read_text().strip() == "on":
                found.append(f"{state} on")
    try:
        record = json.loads(DAMON_RECORD.read_text() or "null")
    except FileNotFoundError:
        record = None
    except (OSError, ValueError) as error:
        record = {"unreadable": str(error)}
    if isinstance(record, dict) and record.get("owner_pid") is not None:
        found.append(f"{DAMON_RECORD}: {record}")
    return "; ".join(found) or None


def reset_damon() -> None:
    """After a finding, turn DAMON off so the runs after it are judged on their own."""
    for state in DAMON_ADMIN.glob("*/state"):
        with contextlib.suppress(OSError):
            state.write_text("off")
    with contextlib.suppress(OSError):
        (DAMON_ADMIN / "nr_kdamonds").write_text("0")
    with contextlib.suppress(OSError):
        DAMON_RECORD.write_text(json.dumps({"format": 1, "owner_pid": None}) + "\n")


# --- inputs of profile --log and report ----------------------------------------------------------------


def write_access_logs(tmp: Path, child: Child) -> dict[str, str]:
    """Access logs for profile --log: JSON Lines, perf script text, and broken ones."""
    folder = tmp / "access"
    folder.mkdir()
    start, length = child.buffers["anon-node0"]
    far, _ = child.buffers["anon-node1"]
    samples = [{"address": start + (i * 4096) % length, "cpu": i % 2, "time": i * 0.1, "pid": child.pid,
                "count": 1 + i % 3, "source": "remote" if i % 3 else "local"} for i in range(60)]
    samples += [{"address": hex(far + i * 4096), "node": 1, "time": 0.05 + i * 0.2, "pid": child.pid}
                for i in range(10)]
    jsonl = "".join(json.dumps(sample) + "\n" for sample in samples)
    perf = "".join(
        f"  numamove-fuzz {child.pid} [00{i % 2}]   {100 + i * 0.1:.6f}:          1            l1d-miss:"
        f"       {start + (i * 4096) % length:x} 8688000842 |OP LOAD|LVL {'Remote' if i % 2 else 'Local'} "
        f"RAM hit|SNP N/A|TLB Walker hit|LCK No|BLK  N/A   aaaac17c3e88 [unknown] (/bin/x)\n"
        for i in range(40))
    texts = {
        "jsonl": jsonl,
        "perf": "# ========\n# captured on: today\n#\n" + perf,
        "mixed": jsonl[: len(jsonl) // 2] + "not json\n{\"address\": -1}\n{\"address\": \"0xzz\"}\n"
                 + '{"address": 18446744073709551616}\n{"count": 3}\n[]\n' + jsonl[len(jsonl) // 2:],
        "no-pid": "".join(json.dumps({"address": start + i * 4096, "time": i * 0.3}) + "\n"
                          for i in range(20)),
        "gone-pid": "".join(json.dumps({"address": start + i * 4096, "pid": 4194303}) + "\n"
                            for i in range(5)),
        "garbage": "\x00\x01garbage\n" * 20 + "{{{{\n",
        "empty": "",
        "blank": "\n\n# a comment\n",
        "perf-garbage": "# perf\n" + "numamove-fuzz x [000] abc: l1d-miss: zz |OP LOAD\n" * 10,
    }
    paths = {}
    for kind, text in texts.items():
        path = folder / f"{kind}.log"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        paths[kind] = str(path)
    (folder / "binary.log").write_bytes(bytes(range(256)) * 8)
    paths["binary"] = str(folder / "binary.log")
    paths["missing"] = str(folder / "missing.log")
    paths["directory"] = str(folder)
    paths["proc"] = "/proc/self/mem"
    return paths


def odd_values(record: dict[str, object]) -> dict[str, object]:
    """A record with values of the wrong type or size: what a hand-edited or damaged log may hold."""
    kind = record.get("type")
    if kind == "header":
        return {**record, "trackers": float("nan"), "target": {"processes": 5}}
    if kind == "region" and record.get("interval") == 1:
        return {**record, "interval": 1 << 70}
    if kind == "region" and record.get("interval") == 2:
        return {**record, "heat": "hot", "nodes": [1]}
    if kind == "region" and record.get("interval") == 3:
        return {**record, "heat": 1e308}
    return record


def record_profile_logs(runner: CliRunner, tmp: Path, child: Child, access: dict[str, str]) -> dict[str, str]:
    """Small real profile logs (recorded once, here) and corrupted copies of one, for report."""
    folder = tmp / "profiles"
    folder.mkdir()
    pid = str(child.pid)
    recordings = {
        "softdirty": ["profile", pid, "--tracker", "softdirty", "--duration", "2s", "--interval", "500ms"],
        "damon": ["profile", pid, "--tracker", "damon,threads", "--duration", "2s", "--interval", "500ms",
                  "--tracker-option", "damon.aggregation=100ms"],
        "converted": ["profile", "--log", access["jsonl"], "--interval", "1s"],
    }
    paths = {}
    for kind, arguments in recordings.items():
        path = folder / f"{kind}.jsonl"
        outcome = run_in_process(runner, [*arguments, "-o", str(path)], PROFILE_SECONDS)
        assert outcome.exit_code == 0 and path.exists(), (arguments, outcome)
        assert damon_left() is None, (arguments, damon_left())
        paths[kind] = str(path)
    text = (folder / "softdirty.jsonl").read_text()
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    corrupt = {
        "truncated": text[: len(text) * 3 // 5],
        "no-end": "".join(lines[:-1]),
        "header-only": lines[0],
        "garbage": "".join(lines[:middle]) + "garbage\n{\"kind\": \"nope\"}\n[1, 2]\n\x00\n{\n"
                   + "".join(lines[middle:]),
        "header": '{"format": "something-else", "version": 99}\n' + "".join(lines[1:]),
        "no-header": "".join(lines[1:]),
        "empty": "",
        "blank": "\n\n",
        "not-json": "hello\n" * 5,
        "twice": text + text,
        "access-log": Path(access["jsonl"]).read_text(),
        "idle-process": lines[0] + json.dumps({"type": "interval", "index": 0, "time": 0.0, "seconds": 0.5,
                                               "pid": 4194303, "resident": {"0": 5}}) + "\n"
                        + "".join(lines[1:]),
        "odd-values": "".join(json.dumps(odd_values(json.loads(line))) + "\n" for line in lines),
    }
    for kind, content in corrupt.items():
        path = folder / f"{kind}.jsonl"
        path.write_text(content)
        paths[kind] = str(path)
    (folder / "binary.jsonl").write_bytes(b"\xff\xfe\x00" * 100)
    paths["binary"] = str(folder / "binary.jsonl")
    paths["directory"] = str(folder)
    paths["missing"] = str(folder / "missing.jsonl")
    paths["proc"] = "/proc/self/mem"
    return paths


# --- the real entry points ---------------------------------------------------------------------------


def entry_point_cases(child: Child, layout: Layout) -> list[tuple[str, list[str], str]]:
    """(how to start, arguments, what stdout is): ~10 runs through the installed script and -m."""
    pid = str(child.pid)
    zero, one = layout.cpu_nodes
    base, length = child.buffers["anon-node0"]
    span = f"{base:#x}-{base + length:#x}"
    return [
        ("script", ["nodes"], "pipe"),
        ("module", ["where", pid, "--json"], "pipe"),
        ("script", ["move", pid, "--to", f"{zero}:nan,{one}:1", "--dry-run"], "pipe"),
        ("module", ["map", pid, "-o", "/nonexistent/dir/x.png"], "pipe"),
        ("script", ["migrate", pid, "0-99999999999", str(zero)], "pipe"),
        ("module", ["where", "123 456"], "pipe"),
        ("script", ["move", pid, "--to", str(one), "--range", span, "--json"], "pipe"),
        ("script", ["where", "1"], "full"),
        ("module", ["where", "1"], "closed"),
        ("script", ["migrate", pid, str(one), str(zero)], "pipe"),
        ("module", ["doctor", pid, "--json"], "pipe"),
    ]


def run_process(how: str, arguments: list[str], stdout: str) -> Outcome:
    """One run through an installed entry point, its address space bounded; stdout a pipe, /dev/full or
    closed. A shell sets the limit and closes stdout (no preexec_fn: the runs go on in a thread).
    """
    program = ([str(Path(sys.executable).with_name("numamove"))] if how == "script"
               else [sys.executable, "-m", "numamove"])
    close = "exec >&-; " if stdout == "closed" else ""
    script = f'ulimit -v {PROCESS_ADDRESS_SPACE // 1024}; {close}exec "$@"'
    started = time.monotonic()
    with open("/dev/full", "w") as full:
        try:
            done = subprocess.run(["/bin/sh", "-c", script, "sh", *program, *arguments],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  stdout=full if stdout == "full" else subprocess.PIPE,
                                  timeout=SECONDS_PER_PROCESS, check=False)
        except subprocess.TimeoutExpired:
            return Outcome(None, "", "", RunTimedOut(), seconds=time.monotonic() - started)
    return Outcome(done.returncode, (done.stdout or b"").decode(errors="replace"),
                   done.stderr.decode(errors="replace"), seconds=time.monotonic() - started)


class EntryPointRuns(threading.Thread):
    """The entry-point runs, one after another beside the in-process ones (the guest has two CPUs)."""

    def __init__(self, cases: list[tuple[str, list[str], str]]) -> None:
        super().__init__(name="entry points", daemon=True)
        self.cases = cases
        self.outcomes: list[tuple[str, list[str], str, Outcome]] = []

    def run(self) -> None:
        for how, arguments, stdout in self.cases:
            self.outcomes.append((how, arguments, stdout, run_process(how, arguments, stdout)))


# --- the test ------------------------------------------------------------------------------------------


def test_cli_fuzz(layout: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative -o paths (and a file named "-") land here
    (tmp_path / "empty-root").mkdir()
    failures = Failures()
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    exits: dict[str, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    slowest: list[tuple[float, list[str]]] = []
    errors: dict[str, Counter[str]] = defaultdict(Counter)  # profile, report, doctor: their errors, shown
    started = time.monotonic()
    with spare_pids() as (zombie, gone), live_child(layout) as child:
        runner = CliRunner()
        run_in_process(runner, ["where", str(child.pid), "--json"], SECONDS_PER_RUN)  # imports, before limits
        access_logs = write_access_logs(tmp_path, child)
        profile_logs = record_profile_logs(runner, tmp_path, child, access_logs)
        inputs = time.monotonic() - started
        scene = Scene(child=child.pid, buffers=child.buffers, cpu_nodes=layout.cpu_nodes,
                      memory_only=layout.memory_only, zombie=zombie, gone=gone, own=os.getpid(), tmp=tmp_path,
                      access_logs=access_logs, profile_logs=profile_logs)
        factory = CaseFactory(random.Random(SEED), scene)
        cases = [factory.case(command) for command, runs in RUNS_PER_COMMAND.items() for _ in range(runs)]
        random.Random(SEED + 1).shuffle(cases)  # commands interleaved: each run meets what the last moved
        processes = EntryPointRuns(entry_point_cases(child, layout))
        processes.start()
        damaged = False
        unchecked: list[list[str]] = []  # the runs since the child's checksums were last taken
        with address_space_limit(address_space() + ADDRESS_SPACE_MARGIN):
            for case in cases:
                timeout = (SLOW_SECONDS if case.slow else MOVE_SECONDS if case.may_move
                           else PROFILE_SECONDS if case.records else SECONDS_PER_RUN)
                outcome = run_in_process(runner, case.arguments, timeout)
                seconds[case.command] += outcome.seconds
                counts[case.command] += 1
                exits[case.command][outcome.exit_code] += 1
                slowest.append((outcome.seconds, case.arguments))
                if case.command in PROFILING and outcome.exit_code:
                    errors[case.command][re.sub(r"\d+", "N", (outcome.stderr.strip().splitlines()
                                                                 or ["(no stderr)"])[-1])[:90]] += 1
                failures.add(case.arguments, judge(case, outcome))
                if case.command == "profile":
                    left = damon_left()
                    if left:
                        failures.add(case.arguments, [("DAMON left behind after a profile run", left)])
                        reset_damon()
                if case.may_move and outcome.exit_code != 2:
                    unchecked.append(case.arguments)
                    if len(unchecked) >= CHECK_EVERY:
                        damaged = damaged or child_damaged(child, unchecked, failures)
            damaged = damaged or child_damaged(child, unchecked, failures)
        in_process = time.monotonic() - started
        processes.join(timeout=SECONDS_PER_PROCESS * len(processes.cases))
        for how, arguments, stdout, outcome in processes.outcomes:
            command = f"{how}, stdout {stdout}"
            seconds["entry points"] += outcome.seconds
            counts["entry points"] += 1
            slowest.append((outcome.seconds, [f"<{command}>", *arguments]))
            failures.add([f"<{command}>", *arguments],
                         judge(Case(arguments[0], arguments, json="--json" in arguments), outcome))
        final = child.current_digests()
        alive = child.process.poll() is None
    elapsed = time.monotonic() - started
    summary = "\n".join(
        [f"fuzz: {sum(counts.values())} runs in {elapsed:.1f} s, the in-process ones done after "
         f"{in_process:.1f} s, the profile logs for report recorded in {inputs:.1f} s (seed {SEED})"]
        + [f"  {command}: {counts[command]} runs, {seconds[command]:.1f} s"
           + (f", exits {dict(sorted(exits[command].items(), key=str))}" if command in exits else "")
           for command in sorted(counts)]
        + [f"  {command}, its most frequent errors: " + "; ".join(
            f"{count}x {text}" for text, count in errors[command].most_common(6)) for command in PROFILING]
        + ["  slowest runs:"]
        + [f"    {spent:5.1f} s  {' '.join(_quote(a) for a in arguments)}"
           for spent, arguments in sorted(slowest, key=lambda item: -item[0])[:8]])
    print(summary)
    stray = own_children()
    assert not processes.is_alive(), "the entry-point runs did not finish"
    assert len(processes.outcomes) == len(processes.cases)
    assert alive and final == child.digests, f"the child after all runs: alive {alive}, digests {final}"
    assert not stray, f"processes left behind: {stray}"
    assert not failures.by_class, summary + "\n" + failures.report()
