"""The report of a profile log: hot and cold regions, working set, residency and remote access.

:func:`analyze` takes the log's records, already parsed (dicts, in file order,
as README.md's "Profile logs" describes and ``numamove profile`` writes them: a header,
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

Region records are gathered into numpy columns and folded into a segment table
(:mod:`numamove.profile.gather`), so memory stays bounded by the union of
boundaries, not the log's length.

Pure: imports numpy, numamove.errors and the rest of numamove.profile's analysis (checks, gather,
regions); no I/O, no kernel interface.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from numamove.errors import InvalidInputError
from numamove.profile.checks import integer, node_map, number, vmas_of
from numamove.profile.gather import ProcessGatherer
from numamove.profile.lines import FORMAT, VERSION, BadLine
from numamove.profile.regions import ProcessReport, finish_process

__all__ = ["FORMAT", "SHOWN_BAD_LINES", "VERSION", "BadLine", "ProcessReport", "Report", "analyze"]

SHOWN_BAD_LINES = 5
Ints = npt.NDArray[np.int64]


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
    starts: dict[int, int] = field(default_factory=dict)
    """Each target's start time (clock ticks after boot) as the header gives it: a pid reused since
    the profile is told apart by it."""

    @property
    def tracker(self) -> str:
        """The trackers as ``numamove profile --tracker`` takes them: "softdirty,threads"."""
        return ",".join(self.trackers)

    @property
    def truncated(self) -> bool:
        return self.end is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: the first process's fields at the top level, every process in ``processes``."""
        return self._document(None)

    def json_chunks(self, batch: int = 4096) -> Iterator[str]:
        """The text of :meth:`to_dict`'s document, indented, each region on one line, in pieces.

        Regions are encoded ``batch`` at a time straight from the arrays, so a
        report of millions of regions never holds them all as Python objects.
        """
        token = f"regions-{secrets.token_hex(8)}-"
        text = json.dumps(self._document(token), indent=1)
        pieces = re.split(f'"{token}(\\d+)"', text)
        yield pieces[0]
        for which, after in zip(pieces[1::2], pieces[2::2], strict=True):
            process = self.processes[int(which)]
            yield "["
            for first in range(0, len(process.starts), batch):
                lines = process.region_json(self.heat_unit, first, first + batch)
                yield ("," if first else "") + "\n  " + ",\n  ".join(lines)
            yield ("\n ]" if len(process.starts) else "]") + after

    def _document(self, token: str | None) -> dict[str, Any]:
        processes = [process.to_dict(self.heat_unit, self.page_size, None if token is None else f"{token}{n}")
                     for n, process in enumerate(self.processes)]
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
    starts: dict[int, int] = {}
    processes: dict[int, ProcessGatherer] = {}
    end: dict[str, Any] | None = None
    invalid: list[BadLine] = []
    unknown: dict[str, int] = {}
    parts: list[int] = []
    position = 0
    last: ProcessGatherer | None = None
    last_pid: Any = None
    for position, record in enumerate(records, 1):
        kind = record.get("type") if type(record) is dict or isinstance(record, Mapping) else None
        if header is None:
            header = _check_header(record, kind)
            parts.append(_part(header))
            target = header.get("target")
            listed = target.get("processes") if isinstance(target, Mapping) else None
            listed = listed if isinstance(listed, list) else []
            names = {p.get("pid"): str(p.get("name", "")) for p in listed if isinstance(p, Mapping)}
            starts = {p["pid"]: p["start"] for p in listed if isinstance(p, Mapping)
                      and type(p.get("pid")) is int and type(p.get("start")) is int}
            continue
        try:
            if kind == "region":
                pid = record.get("pid")
                if pid != last_pid or last is None:
                    last, last_pid = _process(processes, record, names, keep_timeline), pid
                last.add_region(record, position)
            elif kind == "interval":
                process = _process(processes, record, names, keep_timeline)
                index = integer(record, "index")
                process.times[index] = (number(record.get("time")), number(record.get("seconds")))
                process.resident[index] = node_map(record.get("resident") or {}, "resident", whole=True)
            elif kind == "vmas":
                process = _process(processes, record, names, keep_timeline)
                process.vma_epochs.append((integer(record, "interval"), vmas_of(record.get("vmas"))))
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
    finished = []
    for process in processes.values():
        process.fold()
        invalid += process.invalid
        finished.append(finish_process(process, keep_timeline))
    invalid.sort(key=lambda line: line.line)
    page_size, trackers = header.get("page_size"), header.get("trackers")
    report = Report(
        trackers=[str(name) for name in trackers] if isinstance(trackers, list) else [],
        heat_unit=str(header.get("heat_unit", "")),
        page_size=page_size if isinstance(page_size, int) and page_size > 0 else 4096,
        kernel=str(header.get("kernel", "")), interval=number(header.get("interval")), processes=finished,
        end=end, bad_lines=len(given) + len(invalid), first_bad_lines=(given + invalid)[:SHOWN_BAD_LINES],
        parts=parts, starts=starts)
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


def _process(processes: dict[int, ProcessGatherer], record: Mapping[str, Any], names: Mapping[Any, str],
             keep_timeline: bool) -> ProcessGatherer:
    pid = integer(record, "pid")
    process = processes.get(pid)
    if process is None:
        process = processes[pid] = ProcessGatherer(pid, names.get(pid, ""), keep_timeline)
    return process


