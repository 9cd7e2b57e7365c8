"""The report of a profile log: hot and cold regions, working set, residency and remote access.

:func:`analyze` takes the log's records, already parsed (dicts, in file order,
as /work/notes/profile-format.md and ``numamove profile`` write them: a header,
then per process and interval a "vmas" record when the mappings change, an
"interval" record and its "region" records, and an "end" record), and returns
a :class:`Report`:

- regions ranked hottest first on the union of every region boundary seen, so
  regions that split or merge between intervals still rank by their heat per
  page. A piece's heat is its mean over the intervals it was seen in (inside a
  mapping, or in a region record; an omitted region of heat 0 counts 0), in
  the header's ``heat_unit``; adjacent pieces of one mapping with equal heat,
  written flag and accessing nodes are joined again;
- the working set (bytes with heat > 0) and the resident pages per node, per
  interval;
- the remote-access share, per (accessing node, memory node) pair and per
  mapping: a region record weighs heat x bytes x its accessing node's share x
  its pages' share on each memory node, remote when the two nodes differ. When
  no tracker told the accessing nodes, the shares are None, not 0.

Region records are gathered into numpy columns and folded into a
:class:`~numamove.profile.segments.SegmentTable` every ``FOLD_RECORDS``
records, so memory stays bounded by the union of boundaries, not the log's length.

Pure: imports numpy and numamove.errors; no I/O, no kernel interface.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from numamove.errors import InvalidInputError
from numamove.profile.regions import ProcessReport, finish_process
from numamove.profile.segments import SegmentTable

__all__ = ["FORMAT", "SHOWN_BAD_LINES", "VERSION", "BadLine", "ProcessReport", "Report", "analyze"]

FORMAT = "numamove-profile"
VERSION = 1
FOLD_RECORDS = 1 << 18
"""Region records gathered before they are folded into the segment table."""
SHOWN_BAD_LINES = 5
MAX_NODE = 4095
_MAX_ADDRESS = 1 << 63
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BadLine:
    """A line of the log its reader could not parse, or a record that made no sense."""

    file: str
    line: int
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "why": self.why}


@dataclass
class Report:
    """What a profile log says, per process; ``processes[0]`` is the first process of the log."""

    trackers: list[str]
    heat_unit: str
    page_size: int
    kernel: str
    interval: float | None
    processes: list[ProcessReport]
    end: dict[str, Any] | None
    """The end record (intervals, reason, time); None when the log was cut short."""
    bad_lines: int = 0
    first_bad_lines: list[BadLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    parts: list[int] = field(default_factory=list)

    @property
    def tracker(self) -> str:
        """The trackers as ``numamove profile --tracker`` takes them: "softdirty,threads"."""
        return ",".join(self.trackers)

    @property
    def truncated(self) -> bool:
        return self.end is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: the first process's fields at the top level, every process in ``processes``."""
        processes = [process.to_dict(self.heat_unit, self.page_size) for process in self.processes]
        document: dict[str, Any] = {
            "tracker": self.tracker, "trackers": self.trackers, "heat_unit": self.heat_unit,
            "page_size": self.page_size, "kernel": self.kernel, "interval": self.interval,
            "truncated": self.truncated, "end": self.end, "parts": self.parts,
        }
        document.update(processes[0] if processes else {"pid": None, "intervals": 0, "regions": []})
        document["processes"] = processes
        document["bad_lines"] = {"count": self.bad_lines,
                                 "first": [line.to_dict() for line in self.first_bad_lines]}
        document["warnings"] = self.warnings
        return document


class _Process:
    """What is gathered of one process while the log is read."""

    def __init__(self, pid: int, name: str, keep_timeline: bool) -> None:
        self.pid = pid
        self.name = name
        self.times: dict[int, tuple[float | None, float | None]] = {}
        self.resident: dict[int, dict[int, int]] = {}
        self.working: dict[int, int] = {}
        self.vma_epochs: list[tuple[int, list[tuple[int, int, str]]]] = []
        self.table = SegmentTable()
        self.pairs = np.zeros((0, 0))
        self.timeline: list[tuple[int, Ints, Ints, npt.NDArray[np.float64]]] | None = (
            [] if keep_timeline else None)
        self.records = 0
        self.accessing_known = False
        self._clear()

    def _clear(self) -> None:
        self.starts, self.ends, self.index = array("q"), array("q"), array("q")
        self.heats, self.written = array("d"), array("b")
        self.node_row, self.node_id, self.node_pages = array("q"), array("q"), array("d")
        self.access_row, self.access_id, self.access_share = array("q"), array("q"), array("d")
        self.known = array("b")

    def add_region(self, record: Mapping[str, Any]) -> None:
        start, end = _address(record, "start"), _address(record, "end")
        if start >= end:
            raise ValueError(f"start {start:#x} is not below end {end:#x}")
        heat = _number(record.get("heat"))
        if heat is None or heat < 0:
            raise ValueError(f"heat is a number at least 0, not {record.get('heat')!r}")
        written = record.get("written")
        if written is not None and not isinstance(written, bool):
            raise ValueError(f"written is true, false or null, not {written!r}")
        index = _integer(record, "interval")
        nodes = _node_map(record.get("nodes") or {}, "nodes", whole=True)
        accessing = record.get("accessing_nodes")
        shares = None if accessing is None else _node_map(accessing, "accessing_nodes", whole=False)
        row = len(self.starts)
        for node, pages in nodes.items():
            self.node_row.append(row)
            self.node_id.append(node)
            self.node_pages.append(pages)
        if shares:
            for node, share in shares.items():
                self.access_row.append(row)
                self.access_id.append(node)
                self.access_share.append(share)
            self.accessing_known = True
        self.known.append(1 if shares else 0)
        self.starts.append(start)
        self.ends.append(end)
        self.index.append(index)
        self.heats.append(heat)
        self.written.append(-1 if written is None else int(written))
        if heat > 0:
            self.working[index] = self.working.get(index, 0) + end - start
        self.times.setdefault(index, (None, None))
        self.records += 1
        if len(self.starts) >= FOLD_RECORDS:
            self.fold()

    def fold(self) -> None:
        """Fold the gathered region records into the segment table (and the pairs, and the timeline)."""
        count = len(self.starts)
        if not count:
            return
        starts = np.frombuffer(self.starts, dtype=np.int64).copy()
        ends = np.frombuffer(self.ends, dtype=np.int64).copy()
        heat = np.frombuffer(self.heats, dtype=np.float64).copy()
        written = np.frombuffer(self.written, dtype=np.int8)
        known = np.frombuffer(self.known, dtype=np.int8).astype(bool)
        columns = max([*self.node_id, *self.access_id, -1]) + 1
        pages = np.zeros((count, columns))
        np.add.at(pages, (np.frombuffer(self.node_row, dtype=np.int64),
                          np.frombuffer(self.node_id, dtype=np.int64)),
                  np.frombuffer(self.node_pages, dtype=np.float64))
        access = np.zeros((count, columns))
        np.add.at(access, (np.frombuffer(self.access_row, dtype=np.int64),
                           np.frombuffer(self.access_id, dtype=np.int64)),
                  np.frombuffer(self.access_share, dtype=np.float64))
        size = (ends - starts).astype(np.float64)
        resident = pages.sum(axis=1)
        placed = resident > 0
        place_share = np.divide(pages, resident[:, None], out=np.zeros_like(pages), where=placed[:, None])
        local = (access * place_share).sum(axis=1)
        counted = known & placed
        self.table.add(starts, ends, {
            "cover": np.ones(count), "hot": (heat > 0).astype(np.float64),
            "written": (written == 1).astype(np.float64), "unwritten": (written == 0).astype(np.float64),
            "known": known.astype(np.float64), "heat": heat, "pages": pages / size[:, None],
            "access_heat": access * heat[:, None], "access": access, "known_heat": heat * known,
            "remote": heat * (1 - local) * counted, "counted": heat * counted,
        })
        weight = heat * size * counted
        if self.pairs.shape[0] < columns:
            self.pairs = np.pad(self.pairs, ((0, columns - self.pairs.shape[0]),) * 2)
        self.pairs[:columns, :columns] += np.einsum("n,na,nm->am", weight, access, place_share)
        if self.timeline is not None:
            index = np.frombuffer(self.index, dtype=np.int64)
            order = np.argsort(index, kind="stable")
            cuts = np.flatnonzero(np.diff(index[order])) + 1
            for part in np.split(order, cuts):
                self.timeline.append((int(index[part[0]]), starts[part], ends[part], heat[part]))
        self._clear()


def analyze(records: Iterable[Mapping[str, Any]], *, bad_lines: Sequence[BadLine] = (),
            keep_timeline: bool = False) -> Report:
    """The report of a profile log's ``records`` (parsed JSON objects, in file order).

    ``bad_lines`` are the lines the log's reader could not parse; it is read
    after ``records`` is exhausted, so a reader may fill it while it yields.
    ``keep_timeline`` keeps each interval's (start, end, heat) arrays for a
    heatmap. Raises InvalidInputError when the first record is not a header of
    this format, its version is not :data:`VERSION`, or there is no record at all.
    A record that makes no sense (a region without a start, a negative heat)
    is counted with the bad lines and skipped.
    """
    header: Mapping[str, Any] | None = None
    processes: dict[int, _Process] = {}
    end: dict[str, Any] | None = None
    invalid: list[BadLine] = []
    unknown: dict[str, int] = {}
    parts: list[int] = []
    position = 0
    for position, record in enumerate(records, 1):
        kind = record.get("type") if isinstance(record, Mapping) else None
        if header is None:
            header = _check_header(record, kind)
            parts.append(_part(header))
            target = header.get("target")
            listed = target.get("processes") if isinstance(target, Mapping) else None
            names = {p.get("pid"): str(p.get("name", "")) for p in listed or [] if isinstance(p, Mapping)}
            continue
        try:
            if kind == "region":
                _process(processes, record, names, keep_timeline).add_region(record)
            elif kind == "interval":
                process = _process(processes, record, names, keep_timeline)
                index = _integer(record, "index")
                process.times[index] = (_number(record.get("time")), _number(record.get("seconds")))
                process.resident[index] = _node_map(record.get("resident") or {}, "resident", whole=True)
            elif kind == "vmas":
                process = _process(processes, record, names, keep_timeline)
                process.vma_epochs.append((_integer(record, "interval"), _vmas(record.get("vmas"))))
            elif kind == "end":
                end = {key: record.get(key) for key in ("intervals", "reason", "time")}
            elif kind == "header":
                _check_header(record, kind)
                parts.append(_part(record))
            else:
                unknown[str(kind)] = unknown.get(str(kind), 0) + 1
        except (ValueError, TypeError, OverflowError) as error:
            invalid.append(BadLine("", position, f"record {position} ({kind}): {error}"))
    if header is None:
        raise InvalidInputError("the log is empty: no header, no records")
    given = list(bad_lines)
    report = Report(
        trackers=[str(name) for name in header.get("trackers") or []],
        heat_unit=str(header.get("heat_unit", "")),
        page_size=int(header.get("page_size") or 4096), kernel=str(header.get("kernel", "")),
        interval=_number(header.get("interval")), processes=[], end=end,
        bad_lines=len(given) + len(invalid), first_bad_lines=(given + invalid)[:SHOWN_BAD_LINES], parts=parts)
    for process in processes.values():
        process.fold()
        report.processes.append(finish_process(process, keep_timeline))
    _warn(report, unknown, given, invalid)
    return report


def _warn(report: Report, unknown: dict[str, int], given: list[BadLine], invalid: list[BadLine]) -> None:
    if report.end is None:
        report.warnings.append("truncated: no end record (the recorder was killed or the log was cut); "
                               "the report covers what was written")
    if report.parts and report.parts[0] != 0:
        report.warnings.append(f"the log starts at part {report.parts[0]}: older parts were rotated away")
    if report.bad_lines:
        report.warnings.append(f"{report.bad_lines} lines skipped ({len(given)} unreadable, "
                               f"{len(invalid)} records that make no sense); the rest was read")
    for kind, count in sorted(unknown.items()):
        report.warnings.append(f"{count} records of unknown type {kind!r} skipped")
    if not report.processes:
        report.warnings.append("no interval was recorded: the profile holds a header only")
    elif not any(process.accessing_known for process in report.processes):
        report.warnings.append("accessing nodes unknown: the trackers cannot tell which node's CPUs accessed "
                               "memory (add the threads tracker), so remote shares are null")


def _check_header(record: Any, kind: Any) -> Mapping[str, Any]:
    if kind != "header" or record.get("format") != FORMAT:
        raise InvalidInputError(f"not a numamove profile: the first line is not a {FORMAT} header")
    version = record.get("version")
    if version != VERSION:
        raise InvalidInputError(f"profile format version {version!r} is not supported (this numamove reads "
                                f"version {VERSION})")
    return record  # type: ignore[no-any-return]


def _part(header: Mapping[str, Any]) -> int:
    part = header.get("part", 0)
    return part if isinstance(part, int) and not isinstance(part, bool) else 0


def _process(processes: dict[int, _Process], record: Mapping[str, Any], names: Mapping[Any, str],
             keep_timeline: bool) -> _Process:
    pid = _integer(record, "pid")
    process = processes.get(pid)
    if process is None:
        process = processes[pid] = _Process(pid, names.get(pid, ""), keep_timeline)
    return process


def _integer(record: Mapping[str, Any], key: str) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} is a whole number at least 0, not {value!r}")
    return value


def _address(record: Mapping[str, Any], key: str) -> int:
    value = _integer(record, key)
    if value >= _MAX_ADDRESS:
        raise ValueError(f"{key} {value:#x} is not a user address")
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _node_map(value: Any, key: str, *, whole: bool) -> dict[int, Any]:
    """{"0": 12} -> {0: 12}: node ids as strings, pages (whole) or shares (0 to 1) as values."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} is an object of node -> {'pages' if whole else 'share'}, not {value!r}")
    found: dict[int, Any] = {}
    for name, amount in value.items():
        if not (isinstance(name, str) and name.isascii() and name.isdigit() and int(name) <= MAX_NODE):
            raise ValueError(f"{key} has a key that is not a node id: {name!r}")
        bad = isinstance(amount, bool) or not isinstance(amount, int if whole else (int, float))
        if bad or not math.isfinite(amount) or amount < 0 or (not whole and amount > 1):
            wanted = "pages" if whole else "a share from 0 to 1"
            raise ValueError(f"{key}[{name}] is {wanted}, not {amount!r}")
        if amount:
            found[int(name)] = amount
    return found


def _vmas(value: Any) -> list[tuple[int, int, str]]:
    if not isinstance(value, list):
        raise ValueError(f"vmas is a list of [start, end, name], not {value!r}")
    found = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3):
            raise ValueError(f"a VMA is [start, end, name], not {item!r}")
        start, end = _address({"start": item[0]}, "start"), _address({"end": item[1]}, "end")
        if start >= end:
            raise ValueError(f"a VMA's start {start:#x} is not below its end {end:#x}")
        found.append((start, end, str(item[2])))
    return found
