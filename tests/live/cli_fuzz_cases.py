"""Argument lists for test_cli_fuzz: valid and adversarial values for every option, from a seeded RNG.

Pure: no I/O. The same seed and scene give the same cases. Values that cost seconds on code that
does not refuse them early (a node mask of 10^11 nodes, a rate that never finishes a real move,
every process of the machine as the target of a real move) are rationed per command, so the
whole run stays within minutes whether the code under test refuses them or not.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHILD_NAME = "numamove-fuzz"
ARABIC = str.maketrans("0123456789", "".join(chr(0x660 + digit) for digit in range(10)))
FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + digit) for digit in range(10)))
PAGE = 4096

Choice = tuple[float, "str | Callable[[], str]"]


@dataclass(frozen=True)
class Scene:
    """What the cases aim at: the live child, its buffers, the guest's nodes and a few odd pids."""

    child: int
    buffers: dict[str, tuple[int, int]]
    """name -> (start address, length in bytes)."""
    cpu_nodes: tuple[int, ...]
    memory_only: int
    zombie: int
    gone: int
    """A pid whose process exited and was reaped."""
    own: int
    """The pid running the commands in-process."""
    tmp: Path
    access_logs: dict[str, str] = field(default_factory=dict)
    """For profile --log: kind (jsonl, perf, garbage, empty, missing, ...) -> path."""
    profile_logs: dict[str, str] = field(default_factory=dict)
    """For report: kind (softdirty, damon, converted, truncated, garbage, header, empty, ...) -> path."""


@dataclass
class Case:
    command: str
    arguments: list[str]
    json: bool = False
    """--json was given as a flag (not as another option's value)."""
    help: bool = False
    may_move: bool = False
    """A move or migrate that may have moved the child's pages."""
    slow: bool = False
    """It may draw a PNG (seconds in the emulated guest)."""
    records: bool = False
    """A profile run that may start trackers (a kdamond among them)."""


# Where most of the odd values come from; the scene adds the valid ones.
ODD_TARGETS = [
    "0", "-1", "4194304", "99999999999999999999", "\u0661\u0662\u0663", "123 456", ",", "", " ", "0x10",
    "+5", "1e3", "-", "--", "\U0001d7d9", "cgroup:/nonexistent", "cgroup:", "/etc/passwd", "/nonexistent",
    "(", "[", "name:(", "*", "a{99999999999}", "name:\n", "kworker", "no-such-process-name",
    "name:[[:alpha:]]", "\t",
]
BROAD_TARGETS = [".", "name:", "cgroup:/", "/", "/sys/fs/cgroup", "name:."]
ODD_MASKS = [
    "0,,1", "7", "5-6", "", "\u0660", "-1", "1-0", "0-", "a", "!", "+", "+all", "!all", " 1 ", "0x1", "00",
    "1.0", "1\n", "3", "4294967296", "18446744073709551616", ",", "0,", "\uff12", "!+0-1", "+5", "0--1",
    "1 2", "!0-2", "0-1,1-2", "all,1", "+0-7",
]
HUGE_MASKS = ["0-99999999999", "0-4294967296"]
ODD_WEIGHTS = [
    "0:nan", "0:nan,1:1", "0:inf,1:1", "0:1e-9,1:1e-9", "0:1e308,1:1e308", "0:-1", "0:0", "0:0,1:1",
    "THREADS", "0:x", "0:", ":1", "0:1:2", "0:1e-300,1:1", "0:5e-324,1:1", "0:1,0:2", "0-1:2,1:3", "all:1",
    "!1:2", "0:infinity", "0:1_000", "0:\u0663", "0:1,,1:1", "threads,0", "7:1", "free", "0:free,1:1",
    "0:-inf,1:1", "0:NaN", "0:1e-320", "0:1e-308,1:1e308", ",", "", "0:1e309,1:1", "0:0x10,1:1",
]
ODD_RANGES = [
    "0-0x100000000000000000000", "0x10000000000000000-0x10000000000001000", "-", "", "abc", "0x1000",
    "0x1000-", "-0x1000", "0x1000--0x2000", "1e3-2e3", "0b1000000000000-0b10000000000000", "0x_1000-0x2000",
    "4096-8192".translate(FULLWIDTH), " 0x1000 - 0x2000 ", "0x1000-0x2000-0x3000", "-1-4096",
    "0o10000-0o20000", "0x0-0x0", "18446744073709551616-18446744073709555712", "0-18446744073709551616",
]
KINDS = ["heap", "stack", "anon", "file", "shm", "hugetlb", "thp", "vdso", "other"]
ODD_VMAS = [
    "libc", "python", ".*", "", "[", "(", "*", "\\", "(?P<x", "a{99999999999}", "(?i)LIBC", "numamove",
    "\n", "[[:alpha:]]", "(?<=a+)b", "x" * 1000, "ANON", "zero", "vvar", "[heap]", "(a*)*$",
]
NORMAL_RATES = ["50", "1000", "100000"]
ODD_RATES = ["nan", "inf", "-inf", "-1", "0", "abc", "", "1_0", "0x10", "1e309", "NaN", "1e308"]
STALLING_RATES = ["1e-6", "5e-324", "1e-300"]
NORMAL_BUDGETS = ["20", "5", "200", "1000"]
ODD_BUDGETS = ["nan", "inf", "-5", "0", "1e308", "abc", "", "-inf", "1e309", "1e-6", "1e-300"]
TINY_BUDGETS = {"1e-6", "1e-300"}
METHODS = ["auto", "pagemap", "query", "bogus", "", "PAGEMAP"]
ODD_TOKENS = [
    "--frobnicate", "-x", "--jso", "--json=1", "---", "-", "--to", "--dry-run", "-o", "--all", "--yes",
    "--root", "-hh", "--version", "--help=1", "extra", "--pages=yes", "-1", "--JSON", "\x7f",
]
VALUE_OPTIONS = ["--range", "--vma", "--to", "--from", "--rate", "--budget", "-o", "--method", "--tracker",
                 "--duration", "--interval", "--log", "--top", "--heatmap", "--pid", "--tracker-option"]
PNG_RUNS = 3
"""Drawing a PNG of the child takes ~12 s in the emulated guest: this many map runs may."""
ROOTS = ["/", "empty-root", "/nonexistent", "/etc/passwd", "/proc", "/sys"]

# profile, report, doctor
TRACKERS = ["softdirty", "damon", "threads", "numafaults", "idlepage"]
ODD_TRACKERS = [
    "unknown", "", ",", "softdirty,,damon", "damon,damon", "softdirty,softdirty", " softdirty", "SOFTDIRTY",
    "damon,", ",threads", "damon;threads", "accesslog", "damon threads", "\u00e9", "softdirty\n",
]
TRACKER_OPTIONS = ["damon.aggregation=100ms", "damon.aggregation=200ms", "damon.sample=5ms",
                   "damon.min_regions=10", "damon.max_regions=100"]
ODD_TRACKER_OPTIONS = [
    "damon.bogus=1", "damon.aggregation=abc", "damon.aggregation=0", "damon.aggregation=-1",
    "damon.aggregation=nan", "damon.aggregation=1e9", "damon.sample=1s", "damon.min_regions=2",
    "damon.max_regions=abc", "damon.min_regions=99999999999999999999", "softdirty.x=1", "threads.x=1",
    "idlepage.x=y", "unknown.x=1", "damon", "damon.", "damon.=1", ".x=1", "damon.aggregation", "=",
    "", "damon.aggregation=\u0661\u0660\u0660ms", "damon.aggregation=100ms=1",
]
SHORT_DURATIONS = ["1s", "2s", "1500ms", "1", "2.0s"]
SHORT_INTERVALS = ["500ms", "1s", "250ms", "100ms", "0.5s"]
ODD_DURATIONS = [
    "0", "-1", "nan", "1e9", "5 s", "\u0661s", "\uff11s", "inf", "", "abc", "1x", "-inf", "1e-9", "1h1",
    "5ms", "0s", "1e309", "NaN", " ", "10d", "1_000ms", "0x10",
]
MAX_SIZES = ["256M", "4K", "1G", "64KiB", "1T", "65536"]
ODD_MAX_SIZES = ["1K", "0", "-1", "2T", "abc", "", "1.5M", "1e6", "99999999999999999999", "4k", "256 M"]
KEEPS = ["0", "4", "1", "1000"]
ODD_KEEPS = ["-1", "1001", "abc", "", "1e3", "99999999999999999999"]
TOPS = ["1", "5", "10", "1000000"]
ODD_TOPS = ["0", "-1", "1000001", "99999999999999999999", "abc", "", "1.5", "\u0665"]
ODD_PIDS = ["0", "-5", "1", "99999999999999999999", "abc", "", "4194304"]
ODD_PROFILES = {"idle-process", "odd-values"}
"""Corrupted copies that once made report fail with an internal error: drawn more often."""
PROFILE_RECORDS = 28
"""Profile runs that may record (a tracker sampling for up to ~2 s): at most this many."""
HEATMAPS = 2
"""Heatmaps actually drawn (seconds each in the emulated guest)."""


class CaseFactory:
    """Argument lists for one command at a time; see the module's docstring."""

    def __init__(self, rng: random.Random, scene: Scene) -> None:
        self.rng = rng
        self.scene = scene
        self.spent: Counter[str] = Counter()
        self.slow = False
        self.records = False

    # --- helpers -------------------------------------------------------------------------------------

    def choose(self, options: Sequence[Choice]) -> str:
        weights = [weight for weight, _ in options]
        picked = self.rng.choices([value for _, value in options], weights)[0]
        return picked() if callable(picked) else picked

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def ration(self, name: str, limit: int) -> bool:
        """True at most `limit` times for this name."""
        if self.spent[name] >= limit:
            return False
        self.spent[name] += 1
        return True

    # --- values --------------------------------------------------------------------------------------

    def target(self, command: str, moves: bool) -> str:
        s = self.scene
        child = str(s.child)
        broad: Callable[[], str] = lambda: (  # noqa: E731
            self.rng.choice(BROAD_TARGETS) if self.ration(f"{command} broad", 2 if moves else 3) else child)
        return self.choose([
            (40, child), (3, f"{child},{child}"), (1, f"{child}, {child}"), (2, f"{child},{s.zombie}"),
            (1, f"{child},{s.gone}"), (3, CHILD_NAME), (1, f"name:{CHILD_NAME}"), (1, f"^{CHILD_NAME}$"),
            (1, "fuzz$"), (2, "1"), (2, "2"), (3, str(s.zombie)), (2, str(s.gone)),
            (0.2 if moves else 1, str(s.own)),
            (2, child.translate(ARABIC)), (1, child.translate(FULLWIDTH)), (1, f"{child} {child}"),
            (1, f"{child},"), (1, f",{child}"), (1, f"{child}\n"), (1, f" {child} "), (1, f"+{child}"),
            (1, f"0{child}"), (2, broad),
            (20, lambda: self.rng.choice(ODD_TARGETS)),
        ])

    def nodes(self) -> tuple[int, int, int]:
        zero, one = self.scene.cpu_nodes[:2]
        return zero, one, self.scene.memory_only

    def mask(self, command: str) -> str:
        zero, one, far = self.nodes()
        valid = [str(zero), str(one), str(far), f"{zero}-{one}", f"{zero}-{far}", f"{one}-{far}", "all",
                 f"!{one}", f"!{zero}", "+0", "+1", "+0-1", f"{zero},{far}", f"{one},{far}"]
        huge: Callable[[], str] = lambda: (  # noqa: E731
            self.rng.choice(HUGE_MASKS) if self.ration(f"{command} huge mask", 2) else "0-3")
        return self.choose([(70, lambda: self.rng.choice(valid)), (28, lambda: self.rng.choice(ODD_MASKS)),
                            (2, huge)])

    def to(self, command: str) -> str:
        zero, one, far = self.nodes()
        weighted = [f"{zero}:3,{one}:1", f"{zero}:1,{far}:1", f"{one}:2,{far}:1", f"{zero}-{far}:free",
                    f"{one}:free", "threads", f"{zero}:1,{one}:1,{far}:1"]
        huge: Callable[[], str] = lambda: (  # noqa: E731
            self.rng.choice(["0-99999999999", "0-99999999999:1"]) if self.ration(f"{command} huge to", 2)
            else "0:1,1:1")
        return self.choose([(45, lambda: self.mask(command)), (25, lambda: self.rng.choice(weighted)),
                            (28, lambda: self.rng.choice(ODD_WEIGHTS)), (2, huge)])

    def buffer(self) -> tuple[int, int]:
        return self.scene.buffers[self.rng.choice(sorted(self.scene.buffers))]

    def address_range(self) -> str:
        start, length = self.buffer()
        end = start + length
        pages = length // PAGE
        first = self.rng.randrange(pages)
        last = self.rng.randrange(first + 1, pages + 1)
        return self.choose([
            (20, f"{start:#x}-{end:#x}"), (4, f"{start}-{end}"), (2, f"{start:#X}-{end:#X}"),
            (10, f"{start + first * PAGE:#x}-{start + last * PAGE:#x}"),
            (2, "0x0-0x800000000000"), (1, "0-0xfffffffffffff000"),
            (3, f"{start + 1:#x}-{end:#x}"), (2, f"{start:#x}-{end - 1:#x}"), (3, f"{end:#x}-{start:#x}"),
            (1, f"{start:#x}-{start:#x}"), (1, f"{start:#x}-{end:#x}\n"), (1, f"{start:x}-{end:x}"),
            (12, lambda: self.rng.choice(ODD_RANGES)),
        ])

    def ranges(self) -> list[str]:
        """The values of one or more --range options."""
        roll = self.rng.random()
        if roll < 0.7:
            return [self.address_range()]
        if roll < 0.95:
            (a_start, a_length), (b_start, b_length) = self.buffer(), self.buffer()
            return self.rng.choice([
                [f"{a_start:#x}-{a_start + a_length:#x}", f"{b_start:#x}-{b_start + b_length:#x}"],
                [f"{a_start:#x}-{a_start + a_length:#x}", f"{a_start + PAGE:#x}-{a_start + 2 * PAGE:#x}"],
                [f"{a_start:#x}-{a_start + PAGE:#x}", f"{a_start + PAGE:#x}-{a_start + 2 * PAGE:#x}"],
                [self.address_range(), self.address_range()],
            ])
        start, _ = self.buffer()
        count = self.rng.randrange(20, 60)
        return [f"{start + i * PAGE:#x}-{start + (i + 1) * PAGE:#x}" for i in range(count)]

    def vma(self) -> str:
        return self.choose([(6, lambda: self.rng.choice(KINDS)), (4, lambda: self.rng.choice(ODD_VMAS))])

    def output(self) -> str:
        tmp = self.scene.tmp
        return self.choose([
            (6, str(tmp / "x.png")), (3, "relative.png"), (1, str(tmp / "x.PNG")), (3, str(tmp / "x.jpg")),
            (1, str(tmp / "x.svg")), (1, str(tmp / "noext")), (3, "/nonexistent/dir/x.png"), (1, str(tmp)),
            (1, ""), (1, "/dev/full"), (1, "/dev/null"), (1, str(tmp / "ü.png")), (1, str(tmp / "a\nb.png")),
            (1, "-"), (1, str(tmp / ("n" * 300 + ".png"))), (1, str(tmp / "x.png") + "/"),
            (1, str(tmp / "empty-root")),
        ])

    def rate(self, command: str, real: bool) -> str:
        value = self.choose([(5, lambda: self.rng.choice(NORMAL_RATES)),
                             (6, lambda: self.rng.choice(ODD_RATES)),
                             (2, lambda: self.rng.choice(STALLING_RATES))])
        if value in STALLING_RATES and real and not self.ration(f"{command} stalling rate", 1):
            return self.rng.choice(NORMAL_RATES)
        return value

    def budget(self, scoped: bool) -> str:
        value = self.choose([(5, lambda: self.rng.choice(NORMAL_BUDGETS)),
                             (6, lambda: self.rng.choice(ODD_BUDGETS))])
        # A tiny budget moves a page per call: seconds for a buffer, minutes for a whole process.
        return self.rng.choice(NORMAL_BUDGETS) if value in TINY_BUDGETS and not scoped else value

    # --- argument lists ------------------------------------------------------------------------------

    def case(self, command: str) -> Case:
        build = {"nodes": self.nodes_case, "where": self.where_case, "map": self.map_case,
                 "move": self.move_case, "migrate": self.migrate_case, "profile": self.profile_case,
                 "report": self.report_case, "doctor": self.doctor_case}[command]
        self.slow = self.records = False
        positionals, pieces, flags = build()
        return self.assemble(command, positionals, pieces, flags)

    def nodes_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        return [], [], {"--json"} if self.chance(0.5) else set()

    def scan_pieces(self, command: str, pieces: list[list[str]]) -> bool:
        """--vma and --range; True when a --range narrows the scan."""
        if self.chance(0.2):
            pieces.append(["--vma", self.vma()])
        ranged = self.chance(0.3)
        if ranged:
            pieces.extend(["--range", value] for value in self.ranges())
        return ranged

    def where_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        pieces: list[list[str]] = []
        flags = {flag for flag, p in (("--json", 0.5), ("--pages", 0.3)) if self.chance(p)}
        self.scan_pieces("where", pieces)
        if self.chance(0.15):
            pieces.append(["--method", self.rng.choice(METHODS)])
        return [self.target("where", False)], pieces, flags

    def map_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        pieces: list[list[str]] = []
        flags = {"--json"} if self.chance(0.3) else set()
        self.scan_pieces("map", pieces)
        if self.chance(0.35):
            path = self.output()
            refused_early = path in ("", str(self.scene.tmp), str(self.scene.tmp / "empty-root"))
            if refused_early or self.ration("png", PNG_RUNS):
                pieces.append(["-o", path])
                self.slow = not refused_early
        return [self.target("map", False)], pieces, flags

    def move_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        pieces: list[list[str]] = []
        flags = {flag for flag, p in (("--dry-run", 0.6), ("--json", 0.5), ("--all", 0.15), ("--yes", 0.1))
                 if self.chance(p)}
        real = "--dry-run" not in flags
        if self.chance(0.97):
            pieces.append(["--to", self.to("move")])
        if self.chance(0.25):
            pieces.append(["--from", self.mask("move")])
        scoped = self.scan_pieces("move", pieces)
        if self.chance(0.2):
            pieces.append(["--rate", self.rate("move", real)])
        if self.chance(0.2):
            pieces.append(["--budget", self.budget(scoped or not real)])
        return [self.target("move", real)], pieces, flags

    def migrate_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        pieces: list[list[str]] = []
        flags = {flag for flag, p in (("--chunked", 0.4), ("--json", 0.5), ("--yes", 0.1)) if self.chance(p)}
        if self.chance(0.25):
            pieces.append(["--rate", self.rate("migrate", True)])
        if self.chance(0.25):
            pieces.append(["--budget", self.budget(False)])
        positionals = [self.target("migrate", True), self.mask("migrate"), self.mask("migrate")]
        if self.chance(0.03):
            del positionals[self.rng.randrange(3)]
        elif self.chance(0.03):
            positionals.append(self.mask("migrate"))
        return positionals, pieces, flags

    def profile_target(self) -> str:
        """Like target(), without the broad targets and this process: recording those costs minutes."""
        value = self.target("profile", True)
        return str(self.scene.child) if value in BROAD_TARGETS or value == str(self.scene.own) else value

    def trackers(self, odd: float) -> str:
        single: Callable[[], str] = lambda: self.rng.choice(TRACKERS)  # noqa: E731
        pair: Callable[[], str] = lambda: ",".join(self.rng.sample(TRACKERS, 2))  # noqa: E731
        return self.choose([(10, single), (4, "damon,threads"), (2, "softdirty,threads"), (2, pair),
                            (odd, lambda: self.rng.choice(ODD_TRACKERS))])

    def duration(self, odd: float) -> str:
        return self.choose([(6, lambda: self.rng.choice(SHORT_DURATIONS)),
                            (odd, lambda: self.rng.choice(ODD_DURATIONS))])

    def interval(self, odd: float) -> str:
        return self.choose([(6, lambda: self.rng.choice(SHORT_INTERVALS)),
                            (odd, lambda: self.rng.choice(ODD_DURATIONS))])

    def log_output(self, odd: float) -> str:
        tmp = self.scene.tmp
        if not odd:
            return self.rng.choice([str(tmp / "out.jsonl"), "relative.jsonl", str(tmp / "ü.jsonl")])
        return self.choose([(10, str(tmp / "out.jsonl")), (2, "relative.jsonl"), (1, str(tmp / "ü.jsonl")),
                            (2, "/nonexistent/x"), (1, str(tmp)), (1, "/proc/x"), (1, ""), (1, "/dev/full"),
                            (1, str(tmp / "empty-root")), (1, str(tmp / "out.jsonl") + "/"),
                            (1, "/sys/x.jsonl")])

    def profile_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        """Most runs use valid values only (so that some record), the other half any."""
        s = self.scene
        odd = 0.0 if self.chance(0.6) else 1.0
        pieces: list[list[str]] = []
        flags = {"--json"} if self.chance(0.4) else set()
        converting = self.chance(0.3)
        target = self.profile_target() if odd else str(s.child)
        positionals = [target] if not converting or self.chance(0.4) else []
        if converting:
            pieces.append(["--log", s.access_logs[self.rng.choice(sorted(s.access_logs))]])
            if self.chance(0.1 * odd):
                pieces.append(["--tracker", self.trackers(odd * 6)])
            if self.chance(0.1 * odd):
                pieces.append(["--duration", self.duration(odd * 4)])
        else:
            if self.chance(0.95 if odd else 1.0):
                pieces.append(["--tracker", self.trackers(odd * 6)])
            if self.chance(0.25 * odd):
                for _ in range(self.rng.randint(1, 2)):
                    pieces.append(["--tracker-option", self.choose(
                        [(5, lambda: self.rng.choice(TRACKER_OPTIONS)),
                         (5, lambda: self.rng.choice(ODD_TRACKER_OPTIONS))])])
            # Without a --duration a valid run records until the target exits: never here.
            pieces.append(["--duration", self.duration(odd * 4)])
        if self.chance(0.6):
            pieces.append(["--interval", self.interval(odd * 3)])
        if self.chance(0.95 if odd else 1.0):
            pieces.append(["-o", self.log_output(odd)])
        if self.chance(0.2):
            pieces.append(["--max-size", self.choose([(5, lambda: self.rng.choice(MAX_SIZES)),
                                                      (5 * odd, lambda: self.rng.choice(ODD_MAX_SIZES))])])
        if not odd and self.chance(0.4) and any(p[0] == "--tracker" and "damon" in p[1] for p in pieces):
            pieces.append(["--tracker-option", self.rng.choice(TRACKER_OPTIONS)])
        if self.chance(0.2):
            pieces.append(["--keep", self.choose([(5, lambda: self.rng.choice(KEEPS)),
                                                  (5 * odd, lambda: self.rng.choice(ODD_KEEPS))])])
        records = not converting
        if records and not self.ration("profile records", PROFILE_RECORDS):
            # Past the ration, a run that might record is made one that cannot: a bad duration.
            pieces = [p for p in pieces if p[0] != "--duration"] + [["--duration", self.rng.choice(
                ["0", "-1", "nan", "1e9", "5 s", "\u0661s"])]]
            records = False
        self.records = records
        return positionals, pieces, flags

    def report_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        s = self.scene
        pieces: list[list[str]] = []
        flags = {"--json"} if self.chance(0.4) else set()
        logs = s.profile_logs
        good = [name for name in ("softdirty", "damon", "converted") if name in logs]
        file = self.choose([(6, lambda: logs[self.rng.choice(good)]),
                            (5, lambda: logs[self.rng.choice(sorted(logs))]),
                            (2, lambda: logs[self.rng.choice(sorted(set(logs) & ODD_PROFILES))]),
                            (1, "/nonexistent/x.jsonl"), (1, ""), (1, "-")])
        if self.chance(0.3):
            pieces.append(["--top", self.choose([(5, lambda: self.rng.choice(TOPS)),
                                                 (5, lambda: self.rng.choice(ODD_TOPS))])])
        if self.chance(0.25):
            tmp = s.tmp
            path = self.choose([(4, str(tmp / "heat.png")), (2, str(tmp / "heat.jpg")),
                                (2, str(tmp / "heat.txt")), (1, str(tmp / "heat")),
                                (2, "/nonexistent/x.png"), (1, str(tmp)), (1, ""),
                                (1, "/proc/x.png"), (1, str(tmp / "empty-root")), (1, "/dev/full")])
            drawn = path in (str(tmp / "heat.png"), str(tmp / "heat.jpg"), "/dev/full", "/proc/x.png")
            if not drawn or self.ration("heatmap", HEATMAPS):
                pieces.append(["--heatmap", path])
                self.slow = drawn
                if drawn and self.chance(0.8):  # a log with intervals to draw, and good values
                    file = logs[self.rng.choice(good)]
                    pieces = [piece for piece in pieces if piece[0] != "--top"]
        if self.chance(0.2):
            odd = 0 if self.slow else 5
            pieces.append(["--pid", self.choose([(5, str(s.child)),
                                                 (odd, lambda: self.rng.choice(ODD_PIDS))])])
        positionals = [file]
        if self.chance(0.03):
            positionals = []
        elif self.chance(0.03):
            positionals.append(file)
        return positionals, pieces, flags

    def doctor_case(self) -> tuple[list[str], list[list[str]], set[str]]:
        flags = {"--json"} if self.chance(0.5) else set()
        positionals = [] if self.chance(0.3) else [self.target("doctor", False)]
        if self.chance(0.03):
            positionals.append(str(self.scene.child))
        return positionals, [], flags

    def assemble(self, command: str, positionals: list[str], pieces: list[list[str]],
                 flags: set[str]) -> Case:
        """Options in any order, positionals where they fall (after "--" when one looks like an option),
        an odd token now and then, and sometimes group options in front."""
        rng = self.rng
        pieces = [[flag] for flag in sorted(flags)] + [
            [f"{p[0]}={p[1]}"] if p[0].startswith("--") and self.chance(0.15) else p for p in pieces]
        rng.shuffle(pieces)
        tokens = [token for piece in pieces for token in piece]
        dashed = any(p.startswith("-") for p in positionals)
        if (dashed and self.chance(0.7)) or self.chance(0.03):
            arguments = [*tokens, "--", *positionals]
        else:
            slots = sorted(rng.randint(0, len(pieces)) for _ in positionals)
            arguments = []
            queue = list(zip(slots, positionals, strict=True))
            for index, piece in enumerate(pieces):
                while queue and queue[0][0] == index:
                    arguments.append(queue.pop(0)[1])
                arguments.extend(piece)
            arguments.extend(value for _, value in queue)
        if self.chance(0.08):
            arguments.insert(rng.randint(0, len(arguments)), rng.choice(ODD_TOKENS))
        if self.chance(0.02):
            arguments.append(rng.choice(VALUE_OPTIONS))  # an option without its value
        if self.chance(0.02):
            arguments.insert(rng.randint(0, len(arguments)), rng.choice(["-h", "--help"]))
        front: list[str] = []
        if self.chance(0.1 if command == "nodes" else 0.03):
            root = rng.choice(ROOTS)
            front = ["--root", str(self.scene.tmp / root) if root == "empty-root" else root]
        elif self.chance(0.01):
            front = [rng.choice(["--version", "-h", "--bogus"])]
        arguments = [*front, command, *arguments]
        may_move = command == "migrate" or (command == "move" and "--dry-run" not in flags)
        shows_help = any(token in ("-h", "--help", "-hh", "--version") for token in arguments)
        return Case(command, arguments, json="--json" in flags, help=shows_help, may_move=may_move,
                    slow=self.slow, records=self.records and not shows_help)
