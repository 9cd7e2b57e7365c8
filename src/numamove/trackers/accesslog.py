"""Access-log ingest: samples of memory accesses read from text, grouped into regions. Pure.

The seed's "log showing frequent off-node accesses". Nothing here reads a
file or the kernel: callers pass the lines (from a file, a pipe, a test).
Two formats are read, told apart by the first line that is not blank and
not a ``#`` comment (a ``{`` starts JSON Lines):

1. ``perf mem record`` then ``perf script``, its default output: one sample a line,
   ``COMM TID [CPU] SECONDS: [PERIOD] EVENT: ADDRESS DATA_SRC |OP LOAD|LVL L3 hit|SNP ...|...``
   then weight, IP, symbol and DSO. The CPU gives the accessing node. The
   data source says local or remote when its ``LVL`` part names
   ``Remote ...`` (remote) or ``Local ...`` (local); a cache hit says
   neither. With ``-F pid,tid,...`` the id reads ``PID/TID``; the default
   shows the thread id alone, which is kept as unknown pid.

2. numamove's JSON Lines access log: one object a line, ::

     {"address": 140234567680000, "count": 3, "cpu": 5, "source": "remote", "time": 12.5, "pid": 1234}

   - ``address`` (required): the accessed virtual address, an integer or a
     ``"0x..."`` hex string.
   - ``count``: accesses this line stands for, a positive integer (default 1).
   - ``node`` or ``cpu``: the accessing node, or the CPU (its node is looked
     up); ``node`` wins when both are given. Unknown when neither is.
   - ``source``: ``"local"`` or ``"remote"``, when the sampler knew it.
   - ``time``: seconds (any origin, e.g. since boot), a number >= 0.
   - ``pid``: the process the address belongs to, a positive integer.

   Other keys are ignored, so a log may carry more (latency, symbol).

A line that cannot be read is an error as data (line number, a short excerpt,
why); the other lines are still read. :func:`access_regions` groups the
samples per interval, process and page into :class:`~numamove.trackers.base.Region`
with numpy (no per-sample Python loop): heat = samples per page per second
when times are known (per log otherwise), accessing nodes = the samples' share
per node; adjacent pages with equal heat and shares merge.

May import: numpy, :mod:`numamove.errors`, :mod:`.base`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from numamove.errors import InvalidInputError
from numamove.trackers.base import Region, TrackerInfo

__all__ = ["INFO", "AccessLog", "LogError", "access_regions", "read_access_log"]

INFO: Final = TrackerInfo(
    "accesslog", "accesses sampled in a log recorded before (perf mem, or JSON Lines)",
    "the accesses the sampling missed; which node a page is on (numamove reads that itself)",
    "none while profiling: the log was recorded before", heat_unit="samples per page per second")

PERF = "perf-script"
JSONL = "jsonl"
EXCERPT = 80

_PERF_SAMPLE: Final = (
    r"[ \t]*(.*?)[ \t]+(\d+)(?:/(\d+))?[ \t]+(?:\[(\d+)\][ \t]+)?(\d+\.\d+):"
    r"[ \t]+(?:\d+[ \t]+)?\S+:[ \t]+([0-9a-fA-F]+)[ \t]+(?:[^\n]*?\|LVL ([^|\n]*))?[^\n]*"
)
"""comm, pid or tid, tid, cpu, time, address, the data source's level: perf script's default sample line."""
_PERF_LINE: Final = re.compile(_PERF_SAMPLE)
_PERF_LINES: Final = re.compile(f"^{_PERF_SAMPLE}$", re.MULTILINE)
_MAX_ADDRESS: Final = 2**64 - 1


@dataclass(frozen=True)
class LogError:
    """A line of an access log that could not be read: its number (from 1), an excerpt, and why."""

    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.why}: {self.text!r}"


@dataclass(frozen=True, eq=False)
class AccessLog:
    """The samples of an access log, one array element each.

    ``node`` is the accessing node (-1 unknown), ``time`` seconds (nan
    unknown), ``pid`` -1 when unknown, ``remote`` 1 remote, 0 local, -1 unknown.
    """

    format: str
    """"perf-script", "jsonl", or "empty" (no sample line at all)."""
    page_size: int
    address: npt.NDArray[np.uint64]
    count: npt.NDArray[np.int64]
    node: npt.NDArray[np.int32]
    time: npt.NDArray[np.float64]
    pid: npt.NDArray[np.int64]
    remote: npt.NDArray[np.int8]
    errors: tuple[LogError, ...]

    def __len__(self) -> int:
        return len(self.address)


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT - 3] + "..."


def read_access_log(lines: Iterable[str], *, cpu_nodes: Mapping[int, int], page_size: int) -> AccessLog:
    """Read ``lines`` of a perf-script or JSON Lines access log (see the module doc).

    ``cpu_nodes`` maps a CPU to its node (numamove.topology.cpu_nodes); a CPU
    it lacks gives an unknown node. ``page_size`` is kept for :func:`access_regions`.
    """
    if page_size <= 0 or page_size & (page_size - 1):
        raise InvalidInputError(f"a page size is a power of two: not {page_size}")
    numbered = [(number, line.rstrip("\r\n")) for number, line in enumerate(lines, start=1)]
    numbered = [(number, line) for number, line in numbered
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        return _log("empty", page_size, [], [])
    if numbered[0][1].lstrip().startswith("{"):
        rows, errors = _read_jsonl(numbered)
        kind = JSONL
    else:
        rows, errors = _read_perf(numbered)
        kind = PERF
    return _log(kind, page_size, rows, errors, cpu_nodes)


_Row = tuple[int, int, int, int, float, int, int]
"""address, count, cpu (-1), node (-1), time (nan), pid (-1), remote (-1)."""


def _log(kind: str, page_size: int, rows: list[_Row], errors: list[LogError],
         cpu_nodes: Mapping[int, int] | None = None) -> AccessLog:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7
    cpu = np.array(columns[2], dtype=np.int64)
    node = np.array(columns[3], dtype=np.int32)
    if cpu_nodes and len(cpu):
        known = np.array(sorted(cpu_nodes), dtype=np.int64)
        nodes = np.array([cpu_nodes[c] for c in known.tolist()], dtype=np.int32)
        where = np.clip(np.searchsorted(known, cpu), 0, len(known) - 1)
        from_cpu = np.where(known[where] == cpu, nodes[where], -1)
        node = np.where((node < 0) & (cpu >= 0), from_cpu, node).astype(np.int32)
    return AccessLog(kind, page_size, address=np.array(columns[0], dtype=np.uint64),
                     count=np.array(columns[1], dtype=np.int64), node=node,
                     time=np.array(columns[4], dtype=np.float64), pid=np.array(columns[5], dtype=np.int64),
                     remote=np.array(columns[6], dtype=np.int8), errors=tuple(errors))


def _read_perf(numbered: list[tuple[int, str]]) -> tuple[list[_Row], list[LogError]]:
    found = _PERF_LINES.findall("\n".join(line for _, line in numbered))
    if len(found) != len(numbered) or any(len(row[5]) > 16 for row in found):
        # Some line is not a sample: match line by line to name it.
        found, errors = [], []
        for number, line in numbered:
            match = _PERF_LINE.fullmatch(line)
            if match is None:
                errors.append(LogError(number, _excerpt(line), "not a perf script sample line "
                                       "'COMM TID [CPU] TIME: EVENT: ADDRESS DATA_SOURCE ...'"))
            elif len(match[6]) > 16:
                errors.append(LogError(number, _excerpt(line), "the address is past 2^64"))
            else:
                found.append(match.groups())
        return _perf_rows(found), errors
    return _perf_rows(found), []


def _perf_rows(found: list[tuple[str, ...]]) -> list[_Row]:
    """Rows from the regex groups (comm, first, tid, cpu, time, address, level), a column at a time."""
    if not found:
        return []
    _, first, tid, cpu, when, address, level = zip(*found, strict=True)
    pids = [int(p) if t else -1 for p, t in zip(first, tid, strict=True)]
    cpus = [int(c) if c else -1 for c in cpu]
    remote = [1 if "Remote" in (lv or "") else 0 if "Local" in (lv or "") else -1 for lv in level]
    return list(zip(map(int, address, [16] * len(address)), [1] * len(address), cpus, [-1] * len(address),
                    map(float, when), pids, remote, strict=True))


def _integer(value: Any, name: str, low: int, high: int = _MAX_ADDRESS) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'"{name}" is not an integer: {value!r}')
    if not low <= value <= high:
        raise ValueError(f'"{name}" is out of range [{low}, {high}]: {value}')
    return value


def _json_row(item: Any) -> _Row:
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    if "address" not in item:
        raise ValueError('no "address"')
    address = item["address"]
    if isinstance(address, str):
        if not re.fullmatch(r"0[xX][0-9a-fA-F]+", address):
            raise ValueError(f'"address" is neither an integer nor a "0x..." hex string: {address!r}')
        address = int(address, 16)
    address = _integer(address, "address", 0)
    count = _integer(item.get("count", 1), "count", 1, 2**62)
    node = _integer(item["node"], "node", 0, 2**20) if item.get("node") is not None else -1
    cpu = _integer(item["cpu"], "cpu", 0, 2**31) if item.get("cpu") is not None else -1
    pid = _integer(item["pid"], "pid", 1, 2**31) if item.get("pid") is not None else -1
    source = item.get("source")
    if source not in (None, "local", "remote"):
        raise ValueError(f'"source" is "local" or "remote", not {source!r}')
    when = item.get("time")
    if when is None:
        seconds = math.nan
    elif isinstance(when, bool) or not isinstance(when, (int, float)) or not 0 <= when < math.inf:
        raise ValueError(f'"time" is seconds, a number >= 0: not {when!r}')
    else:
        seconds = float(when)
    return address, count, cpu, node, seconds, pid, -1 if source is None else int(source == "remote")


def _in(values: list[Any], kinds: set[type], low: float, high: float) -> bool:
    """Whether every value is of ``kinds`` (None allowed when listed) and the others lie in [low, high]."""
    if not set(map(type, values)) <= kinds:
        return False
    known = [value for value in values if value is not None] if type(None) in kinds else values
    return not known or (low <= min(known) and max(known) <= high)


def _json_fast(items: list[Any]) -> list[_Row] | None:
    """The rows of a log whose every line is a well-formed object with integer addresses, a column at a
    time; None when any is not (the line-by-line reader then names each bad line)."""
    if not items or set(map(type, items)) != {dict}:
        return None
    none = type(None)

    def column(key: str, default: Any = None) -> list[Any]:
        return [item.get(key, default) for item in items]

    address, count, when = column("address"), column("count", 1), column("time")
    node, cpu, pid, source = column("node"), column("cpu"), column("pid"), column("source")
    if not (_in(address, {int}, 0, _MAX_ADDRESS) and _in(count, {int}, 1, 2**62)
            and _in(node, {int, none}, 0, 2**20) and _in(cpu, {int, none}, 0, 2**31)
            and _in(pid, {int, none}, 1, 2**31) and _in(when, {int, float, none}, 0, math.inf)
            and set(source) <= {None, "local", "remote"}):
        return None
    if not all(math.isfinite(value) for value in when if value is not None):
        return None
    return list(zip(address, count, [-1 if c is None else c for c in cpu],
                    [-1 if n is None else n for n in node],
                    [math.nan if t is None else float(t) for t in when],
                    [-1 if p is None else p for p in pid],
                    [-1 if v is None else int(v == "remote") for v in source], strict=True))


def _read_jsonl(numbered: list[tuple[int, str]]) -> tuple[list[_Row], list[LogError]]:
    try:  # one parse of the whole log; line by line only when some line is broken
        items: list[Any] = json.loads("[" + ",".join(line for _, line in numbered) + "]")
        if len(items) != len(numbered):
            raise ValueError("a line held more than one value")
    except ValueError:
        items = []
        for _, line in numbered:
            try:
                items.append(json.loads(line))
            except ValueError as error:
                items.append(error)
    fast = _json_fast(items)
    if fast is not None:
        return fast, []
    rows: list[_Row] = []
    errors: list[LogError] = []
    for (number, line), item in zip(numbered, items, strict=True):
        if isinstance(item, ValueError):
            errors.append(LogError(number, _excerpt(line), f"not JSON ({str(item).split(':')[0]})"))
            continue
        try:
            rows.append(_json_row(item))
        except ValueError as error:
            errors.append(LogError(number, _excerpt(line), str(error)))
    return rows, errors


def access_regions(log: AccessLog, *, interval: float | None) -> list[list[Region]]:
    """The log's samples as regions: one list per interval (one list in all when ``interval`` is None).

    With ``interval`` (seconds) the samples are cut by time from the first
    one; samples without a time are then left out (all of them lacking one
    gives a single list). Heat is samples per page per second when times are
    known (the interval, or the log's time span), samples per page over the
    log otherwise. A region's pid is the samples' pid, 0 when the log did not say.
    """
    if interval is not None and not (interval > 0 and math.isfinite(interval)):
        raise InvalidInputError(f"an interval is a positive number of seconds: not {interval}")
    known = ~np.isnan(log.time)
    keep = known if interval is not None and known.any() else np.ones(len(log), dtype=np.bool_)
    if not keep.any():
        return [[]]
    page = log.address[keep] // np.uint64(log.page_size)
    count = log.count[keep]
    node = log.node[keep]
    pid = np.maximum(log.pid[keep], 0)
    times = log.time[keep]
    timed = bool(known[keep].all())
    if interval is not None and timed:
        slot = np.floor((times - times.min()) / interval).astype(np.int64)
        seconds = float(interval)
        unit = "samples per page per second"
    else:
        slot = np.zeros(len(page), dtype=np.int64)
        span = float(times.max() - times.min()) if timed else 0.0
        seconds = span if span > 0 else 1.0
        unit = "samples per page per second" if span > 0 else "samples per page (whole log)"
    slots = int(slot.max()) + 1
    # One group per (slot, pid, page), in that order.
    order = np.lexsort((page, pid, slot))
    slot, pid, page, count, node = slot[order], pid[order], page[order], count[order], node[order]
    first = np.r_[True, (np.diff(slot) != 0) | (np.diff(pid) != 0) | (np.diff(page) != 0)]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    heat = np.add.reduceat(count, starts) / seconds
    nodes = np.unique(node[node >= 0])
    if len(nodes):
        column = np.searchsorted(nodes, np.maximum(node, 0))
        matrix = np.zeros((len(starts), len(nodes)), dtype=np.float64)
        mine = node >= 0
        np.add.at(matrix, (group[mine], column[mine]), count[mine])
        totals = matrix.sum(axis=1, keepdims=True)
        shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    else:
        shares = np.zeros((len(starts), 0))
        totals = np.zeros((len(starts), 1))
    g_slot, g_pid, g_page = slot[starts], pid[starts], page[starts]
    same = np.r_[False, (np.diff(g_slot) == 0) & (np.diff(g_pid) == 0) & (np.diff(g_page) == 1)
                 & (np.diff(heat) == 0) & (shares[1:] == shares[:-1]).all(axis=1)
                 & ((totals[1:, 0] > 0) == (totals[:-1, 0] > 0))]
    run_starts = np.flatnonzero(~same)
    run_ends = np.r_[run_starts[1:], len(starts)] - 1
    found: list[list[Region]] = [[] for _ in range(slots)]
    size = log.page_size
    for a, b in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
        accessing = None
        if totals[a, 0] > 0:
            row = zip(nodes.tolist(), shares[a].tolist(), strict=True)
            accessing = {int(n): float(share) for n, share in row if share > 0}
        found[int(g_slot[a])].append(Region(int(g_pid[a]), int(g_page[a]) * size, (int(g_page[b]) + 1) * size,
                                            float(heat[a]), unit, accessing_nodes=accessing))
    return found
