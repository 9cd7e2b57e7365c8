"""The profile log: JSON Lines records, the writer (merging, size cap, rotation) and the reader.

The format (README, "Profile logs"): a ``header`` first in every file, ``vmas`` when a
process's mappings change, per interval and process an ``interval`` record then its
``region`` records, and an ``end`` record when the run ends in any way that lets the
writer run. Addresses are integers; node ids, as JSON object keys, are strings.

The writer merges adjacent regions of equal heat, written and accessing nodes (their
pages per node add up) and, when a file would pass its size cap, renames FILE to FILE.1
(FILE.1 to FILE.2, ... keeping ``keep`` old parts) and starts a new FILE with a header of
the next part number and the latest ``vmas`` record of each process, so that every part
reads on its own. It rotates between intervals only: an interval stays in one part.

The reader reads FILE's parts oldest first (FILE.N ... FILE.1, FILE) and gives
malformed lines as data (:class:`BadLine`: file, line number, why).

File I/O on the user's own files only (the log and its parts); no kernel interface.
May import: the standard library, :mod:`numamove.errors`, :mod:`.lines` (the files and lines).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any, TypeAlias

from numamove.errors import InvalidInputError, NumaMoveError
from numamove.profile.lines import EXCERPT, FORMAT, VERSION, BadLine, log_parts, read_objects

__all__ = [
    "DEFAULT_KEEP", "DEFAULT_MAX_SIZE", "FORMAT", "REASONS", "VERSION", "BadLine", "EndRecord", "Header",
    "IntervalRecord", "ProfileLog", "ProfileLogError", "ProfileWriter", "Record", "RegionRecord",
    "VmasRecord", "from_json", "log_parts", "merge_regions", "read_log", "read_records", "to_json",
]

DEFAULT_MAX_SIZE = 256 << 20
DEFAULT_KEEP = 4
REASONS = ("duration", "interrupted", "target exited", "terminated")


class ProfileLogError(NumaMoveError):
    """A profile log that cannot be created, written or read (the message names the file and why)."""


@dataclass(frozen=True)
class Header:
    """The first line of every part: what was tracked, on what kernel and machine, of which processes."""

    trackers: list[str]
    heat_unit: str
    tracker_info: dict[str, dict[str, Any]]
    kernel: str
    page_size: int
    topology: dict[str, Any]
    target: dict[str, Any]
    """{"spec": what the user typed, "processes": [{"pid", "start" (ticks), "name"}]}."""
    interval: float
    started: float
    part: int = 0


@dataclass(frozen=True)
class VmasRecord:
    """A process's mappings as [start, end, name] ("[anon]" for anonymous), when first seen or changed."""

    interval: int
    pid: int
    vmas: list[tuple[int, int, str]]


@dataclass(frozen=True)
class IntervalRecord:
    """One interval of one process: when, how long, and its present pages per node."""

    index: int
    time: float
    seconds: float
    pid: int
    resident: dict[int, int]


@dataclass(frozen=True)
class RegionRecord:
    """One region of one interval: its heat, whether written, who accessed it, where its pages are."""

    interval: int
    pid: int
    start: int
    end: int
    heat: float
    written: bool | None
    accessing_nodes: dict[int, float] | None
    nodes: dict[int, int] = field(default_factory=dict)
    age: float | None = None
    """Seconds the region's access pattern has held (DAMON's age), None when the tracker cannot tell."""

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise InvalidInputError(f"a region is [start, end) with 0 <= start < end, not "
                                    f"[{self.start}, {self.end})")
        if not (math.isfinite(self.heat) and self.heat >= 0):
            raise InvalidInputError(f"a region's heat is a finite number, not negative: {self.heat}")
        if self.age is not None and not (math.isfinite(self.age) and self.age >= 0):
            raise InvalidInputError(f"a region's age is finite seconds, not negative: {self.age}")


@dataclass(frozen=True)
class EndRecord:
    """The last line: how many intervals, why the run ended, when (seconds since started)."""

    intervals: int
    reason: str
    time: float


Record: TypeAlias = "Header | VmasRecord | IntervalRecord | RegionRecord | EndRecord"


# --- records <-> JSON -------------------------------------------------------------------------------


def _keys(counts: Mapping[int, Any]) -> dict[str, Any]:
    return {str(node): value for node, value in sorted(counts.items())}


def to_json(record: Record) -> str:
    """One line of the log (without its newline)."""
    data: dict[str, Any]
    if isinstance(record, Header):
        data = {"type": "header", "format": FORMAT, "version": VERSION, "part": record.part,
                "trackers": record.trackers, "heat_unit": record.heat_unit,
                "tracker_info": record.tracker_info, "kernel": record.kernel, "page_size": record.page_size,
                "topology": record.topology, "target": record.target, "interval": record.interval,
                "started": record.started}
    elif isinstance(record, VmasRecord):
        data = {"type": "vmas", "interval": record.interval, "pid": record.pid,
                "vmas": [list(vma) for vma in record.vmas]}
    elif isinstance(record, IntervalRecord):
        data = {"type": "interval", "index": record.index, "time": record.time, "seconds": record.seconds,
                "pid": record.pid, "resident": _keys(record.resident)}
    elif isinstance(record, RegionRecord):
        data = {"type": "region", "interval": record.interval, "pid": record.pid, "start": record.start,
                "end": record.end, "heat": record.heat, "written": record.written,
                "accessing_nodes": None if record.accessing_nodes is None else _keys(record.accessing_nodes),
                "nodes": _keys(record.nodes)}
        if record.age is not None:  # only trackers that know it (DAMON) write the key
            data["age"] = record.age
    else:
        data = {"type": "end", "intervals": record.intervals, "reason": record.reason, "time": record.time}
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


class _Bad(Exception):
    """Why a line is not a record; the reader turns it into a BadLine."""


def _get(data: dict[str, Any], key: str, kinds: type | tuple[type, ...], *, null: bool = False) -> Any:
    if key not in data:
        raise _Bad(f"no {key!r}")
    if (value := data[key]) is None and null:
        return None
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise _Bad(f"{key!r} is {value!r}, not a number")
    if not isinstance(value, kinds):
        raise _Bad(f"{key!r} is {type(value).__name__} {str(value)[:30]}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad(f"{key!r} is {value}")
    return value


def _nodes(data: dict[str, Any], key: str, kind: type, *, null: bool = False) -> Any:
    if (value := _get(data, key, dict, null=null)) is None:
        return None
    found: dict[int, Any] = {}
    for node, count in value.items():
        if not (node.isascii() and node.isdigit()) or isinstance(count, bool) or not isinstance(
                count, (int, float) if kind is float else int) or not 0 <= count < math.inf:
            raise _Bad(f"{key!r} maps node ids to counts, not {node!r}: {count!r}")
        found[int(node)] = kind(count)
    return found


def from_json(line: str) -> Record:
    """The record of one line; :class:`ProfileLogError` saying why when it is not one."""
    try:  # _Bad stays inside: the reader makes BadLines of it without a traceback's cost
        return _record(line)
    except _Bad as why:
        raise ProfileLogError(str(why)) from None


def _record(line: str) -> Record:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as error:
        raise _Bad(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise _Bad("not a JSON object")
    return _from_object(data)


def _from_object(data: dict[str, Any]) -> Record:
    kind = data.get("type")
    number = (int, float)
    if kind == "header":
        if data.get("format") != FORMAT:
            raise _Bad(f"a header of format {data.get('format')!r}, not {FORMAT!r}")
        if _get(data, "version", int) != VERSION:
            raise _Bad(f"format version {data['version']}, this reader knows {VERSION}")
        return Header(_get(data, "trackers", list), _get(data, "heat_unit", str),
                      _get(data, "tracker_info", dict), _get(data, "kernel", str),
                      _get(data, "page_size", int),
                      _get(data, "topology", dict), _get(data, "target", dict),
                      float(_get(data, "interval", number)), float(_get(data, "started", number)),
                      _get(data, "part", int))
    if kind == "vmas":
        vmas = []
        for vma in _get(data, "vmas", list):
            if not (isinstance(vma, list) and len(vma) == 3 and all(type(v) is int for v in vma[:2])
                    and isinstance(vma[2], str)):
                raise _Bad(f"a vma is [start, end, name], not {str(vma)[:40]}")
            vmas.append((vma[0], vma[1], vma[2]))
        return VmasRecord(_get(data, "interval", int), _get(data, "pid", int), vmas)
    if kind == "interval":
        return IntervalRecord(_get(data, "index", int), float(_get(data, "time", number)),
                              float(_get(data, "seconds", number)), _get(data, "pid", int),
                              _nodes(data, "resident", int))
    if kind == "region":
        try:
            return RegionRecord(_get(data, "interval", int), _get(data, "pid", int), _get(data, "start", int),
                                _get(data, "end", int), float(_get(data, "heat", number)),
                                _get(data, "written", bool, null=True),
                                _nodes(data, "accessing_nodes", float, null=True), _nodes(data, "nodes", int),
                                None if data.get("age") is None else float(_get(data, "age", number)))
        except InvalidInputError as error:
            raise _Bad(str(error)) from None
    if kind == "end":
        return EndRecord(_get(data, "intervals", int), _get(data, "reason", str),
                         float(_get(data, "time", number)))
    raise _Bad(f"unknown record type {kind!r}")


def merge_regions(regions: Sequence[RegionRecord]) -> list[RegionRecord]:
    """Adjacent regions (one's end is the next one's start, same pid and interval) with equal heat,
    written, accessing nodes and age, as one: their pages per node add up. Order is kept."""
    merged: list[RegionRecord] = []
    run: list[RegionRecord] = []  # the regions that merge into one, built once when the run ends
    for region in [*regions, None]:
        last = run[-1] if run else None
        if (region is not None and last is not None and last.end == region.start and last.pid == region.pid
                and last.interval == region.interval and last.heat == region.heat
                and last.written == region.written and last.accessing_nodes == region.accessing_nodes
                and last.age == region.age):
            run.append(region)
            continue
        if len(run) > 1:
            nodes: dict[int, int] = {}
            for part in run:
                for node, count in part.nodes.items():
                    nodes[node] = nodes.get(node, 0) + count
            merged.append(replace(run[0], end=run[-1].end, nodes=dict(sorted(nodes.items()))))
        elif run:
            merged.append(run[0])
        run = [region] if region is not None else []
    return merged


def _is_part_of_ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as part:
            return isinstance(_record(part.readline(1 << 20)), Header)
    except (OSError, _Bad):
        return False


class ProfileWriter:
    """Writes a profile log to ``path``, rotating it at ``max_size`` bytes and keeping ``keep`` old parts.

    The file is created at once (an unwritable path fails before tracking starts); old parts of
    an earlier log of that name (FILE.1, ... that begin with a profile header) are removed, so no
    reader takes them for this run's. Each interval is flushed: a killed run leaves whole lines.
    """

    def __init__(self, path: str | os.PathLike[str], header: Header, *, max_size: int = DEFAULT_MAX_SIZE,
                 keep: int = DEFAULT_KEEP) -> None:
        if max_size < 1 or keep < 0:
            raise InvalidInputError(f"a profile log's size cap is positive and the parts kept not negative, "
                                    f"not {max_size} and {keep}")
        self.path = os.fspath(path)
        self.header = replace(header, part=0)
        self.max_size, self.keep = max_size, keep
        self.size = self.total = self.regions = self.intervals = self.intervals_in_part = 0
        self.ended = False  # size: bytes in this part; total: in all parts
        self._vmas: dict[int, VmasRecord] = {}
        index = 1
        while os.path.exists(f"{self.path}.{index}") and _is_part_of_ours(f"{self.path}.{index}"):
            index += 1
        for stale in range(index - 1, 0, -1):
            self._io(os.remove, f"{self.path}.{stale}")
        self._file: IO[str] = self._open()

    def _io(self, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except OSError as error:
            raise ProfileLogError(f"cannot write the profile log {self.path}: "
                                  f"{error.strerror or error}") from None

    def _open(self) -> IO[str]:
        file: IO[str] = self._io(lambda: open(self.path, "w", encoding="utf-8"))  # noqa: SIM115
        self._file = file
        self.size = self.intervals_in_part = 0
        self._put([to_json(self.header)])
        return file

    def _put(self, lines: Sequence[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        self._io(self._file.write, text)
        self._io(self._file.flush)
        size = len(text.encode())
        self.size += size
        self.total += size

    def _rotate(self) -> None:
        self._io(self._file.close)
        if self.keep == 0:
            self._io(os.remove, self.path)
        for index in range(self.keep - 1, 0, -1):
            if os.path.exists(f"{self.path}.{index}"):
                self._io(os.replace, f"{self.path}.{index}", f"{self.path}.{index + 1}")
        if self.keep:
            self._io(os.replace, self.path, f"{self.path}.1")
        self.header = replace(self.header, part=self.header.part + 1)
        self._open()
        if self._vmas:
            self._put([to_json(record) for _, record in sorted(self._vmas.items())])

    @property
    def parts(self) -> int:  # 1 + the rotations
        return self.header.part + 1

    def interval(self, record: IntervalRecord, regions: Sequence[RegionRecord],
                 vmas: VmasRecord | None = None) -> int:
        """Write one interval of one process: its mappings when they changed, the interval, its regions
        (adjacent equal ones merged). Returns how many region records were written."""
        if self.ended:
            raise ProfileLogError(f"the profile log {self.path} is closed")
        merged = merge_regions(regions)
        lines = ([to_json(vmas)] if vmas is not None else []) + [to_json(record)]
        lines += [to_json(region) for region in merged]
        needed = sum(len(line) + 1 for line in lines)
        if self.size + needed > self.max_size and self.intervals_in_part:
            self._rotate()
        self._put(lines)
        self.intervals_in_part += 1
        if vmas is not None:
            self._vmas[vmas.pid] = vmas
        self.regions += len(merged)
        self.intervals = max(self.intervals, record.index + 1)
        return len(merged)

    def end(self, reason: str, intervals: int, time: float) -> None:
        """Write the end record and close the file; later calls do nothing."""
        if self.ended:
            return
        if reason not in REASONS:
            raise InvalidInputError(f"a profile ends for one of {', '.join(REASONS)}, not {reason!r}")
        self.ended = True
        try:
            self._put([to_json(EndRecord(intervals, reason, time))])
        finally:
            self.close()

    def close(self) -> None:
        """Close the file (without an end record, a reader says the log is truncated)."""
        self.ended = True
        if not self._file.closed:
            self._io(self._file.close)



# --- the reader -------------------------------------------------------------------------------------


@dataclass
class ProfileLog:
    """A whole profile log: its parts read (oldest first), the records, the lines skipped."""

    parts: list[str]
    records: list[Record]
    bad: list[BadLine]

    @property
    def ended(self) -> bool:
        """Whether the log ends with an end record (a killed run's does not: "truncated")."""
        return bool(self.records) and isinstance(self.records[-1], EndRecord)

    @property
    def header(self) -> Header | None:  # the first part's
        return next((record for record in self.records if isinstance(record, Header)), None)


def read_records(path: str | os.PathLike[str]) -> Iterator[Record | BadLine]:
    """Every record of FILE's parts, oldest part first, with each malformed line as a :class:`BadLine`.

    A part whose first line is not a header gets a BadLine for that too. A
    missing FILE is a :class:`ProfileLogError`.
    """
    base = os.fspath(path)
    if not os.path.isfile(base):
        raise ProfileLogError(f"no profile log at {base}")
    for item in read_objects(base):
        if isinstance(item, BadLine):
            yield item
            continue
        part, number, data = item
        try:
            record = _from_object(data)
        except _Bad as why:
            yield BadLine(part, number, str(why), _excerpt(data))
            continue
        if number == 1 and not isinstance(record, Header):
            yield BadLine(part, 1, "the part does not begin with a header", _excerpt(data))
        yield record


def _excerpt(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))[:EXCERPT]  # as the writer writes it


def read_log(path: str | os.PathLike[str]) -> ProfileLog:
    """The whole log at ``path`` (all its parts) in memory; see :func:`read_records`."""
    items = list(read_records(path))
    return ProfileLog(log_parts(path), [item for item in items if not isinstance(item, BadLine)],
                      [item for item in items if isinstance(item, BadLine)])
