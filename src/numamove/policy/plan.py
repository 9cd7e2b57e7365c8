"""A plan: the moves a policy chose, each with its reason and expected gain; JSON both ways.

The JSON is one object::

    {"format": "numamove-plan", "version": 1, "policy": "locality", "options": {...},
     "created": 1764650000.0, "processes": [{"pid": 4242, "start": 123456, "name": "postgres"}],
     "moves": [{"pid": 4242, "start": 140..., "end": 140..., "from": 0, "to": 1, "pages": 4096,
                "kind": "locality", "reason": "hot: ...", "gain": 0.91}],
     "notes": ["..."], "summary": {...}}

``start``/``end`` are addresses, half-open; ``from``/``to`` nodes; ``pages`` the
resident pages on ``from`` in that range when planned. ``kind`` is locality,
promote, demote or balance. ``gain`` is the expected gain in bytes: for
locality the bytes times the share of their accesses that become local, for
promote the hot bytes reaching the fast tier, for demote the fast-tier bytes
freed, for balance the bytes moved. ``summary`` is derived, written for the
reader and ignored on reading. A plan reads back equal to what was written;
a newer version is refused.

Pure: text in, text out. May import: numamove.errors and its own package.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from numamove.errors import InvalidInputError

__all__ = ["FORMAT", "KINDS", "VERSION", "Move", "Plan", "PlannedProcess"]

FORMAT = "numamove-plan"
VERSION = 1
KINDS = ("locality", "promote", "demote", "balance")


@dataclass(frozen=True)
class Move:
    """Move the pages of ``pid`` in ``[start, end)`` that are on ``source`` to ``target``."""

    pid: int
    start: int
    end: int
    source: int
    target: int
    pages: int
    kind: str
    reason: str
    gain: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "start": self.start, "end": self.end, "from": self.source, "to": self.target,
                "pages": self.pages, "kind": self.kind, "reason": self.reason, "gain": self.gain}


@dataclass(frozen=True)
class PlannedProcess:
    """A process a plan is for: apply refuses a pid whose start time differs (the pid was reused)."""

    pid: int
    start: int
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "start": self.start, "name": self.name}


@dataclass(frozen=True)
class Plan:
    """A policy's answer for one snapshot: the moves in the order to carry them out."""

    policy: str
    processes: tuple[PlannedProcess, ...]
    moves: tuple[Move, ...]
    notes: tuple[str, ...] = ()
    """Why the plan is empty, what a rule held back, what the trackers could not see."""
    options: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0
    page_size: int = 4096
    version: int = VERSION

    def summary(self) -> dict[str, int]:
        """Pages and bytes per kind of move, and the expected gain in bytes made local (locality)."""
        found: dict[str, int] = {"moves": len(self.moves), "pages": sum(m.pages for m in self.moves)}
        for kind in KINDS:
            pages = sum(m.pages for m in self.moves if m.kind == kind)
            found[f"{kind}_bytes"] = pages * self.page_size
        found["local_bytes_gained"] = round(sum(m.gain for m in self.moves if m.kind == "locality"))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": self.version, "policy": self.policy,
                "options": dict(self.options), "created": self.created, "page_size": self.page_size,
                "processes": [p.to_dict() for p in self.processes],
                "moves": [m.to_dict() for m in self.moves],
                "notes": list(self.notes), "summary": self.summary()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "the plan") -> Plan:
        """A plan read back; InvalidInputError naming ``source`` and the first thing wrong."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidInputError(f"{source} is not JSON: {error}") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: object, source: str = "the plan") -> Plan:
        read = _Reader(source)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInputError(f"{source} is not a numamove plan (no \"format\": \"{FORMAT}\")")
        version = read.integer(data, "version", low=1)
        if version > VERSION:
            raise InvalidInputError(f"{source} is plan version {version}, newer than this numamove reads "
                                    f"({VERSION}): use the numamove that made it, or a newer one")
        options = read.field(data, "options", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
            raise InvalidInputError(f"{source}: \"options\" maps names to strings")
        processes = tuple(PlannedProcess(read.integer(p, "pid", low=1), read.integer(p, "start", low=0),
                                         read.field(p, "name", str))
                          for p in read.objects(data, "processes"))
        pids = [p.pid for p in processes]
        if len(set(pids)) != len(pids):
            raise InvalidInputError(f"{source}: a pid is listed twice in \"processes\"")
        moves = []
        for index, item in enumerate(read.objects(data, "moves")):
            where = f"move {index + 1}"
            pid, start, end, source_node, target, pages = (
                read.integer(item, key, low=1 if key in ("pid", "end") else 0, at=where)
                for key in ("pid", "start", "end", "from", "to", "pages"))
            move = Move(pid, start, end, source_node, target, pages, read.field(item, "kind", str, at=where),
                        read.field(item, "reason", str, at=where), read.number(item, "gain", at=where))
            if move.end <= move.start or move.end > 1 << 64:
                raise InvalidInputError(f"{source}: {where}: [start, end) is not a range of addresses")
            if move.kind not in KINDS:
                raise InvalidInputError(f"{source}: {where}: kind {move.kind!r} is not one of "
                                        f"{', '.join(KINDS)}")
            if move.pid not in pids:
                raise InvalidInputError(f"{source}: {where}: pid {move.pid} is not in \"processes\"")
            moves.append(move)
        notes = read.field(data, "notes", list)
        if not all(isinstance(note, str) for note in notes):
            raise InvalidInputError(f"{source}: \"notes\" is a list of strings")
        return cls(read.field(data, "policy", str), processes, tuple(moves), tuple(notes), options,
                   read.number(data, "created"), read.integer(data, "page_size", low=1), version)


_KIND_NAMES: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}


class _Reader:
    """Field checks that name the plan, the move and the key in their errors."""

    def __init__(self, source: str) -> None:
        self.source = source

    def _fail(self, at: str, key: str, wanted: str) -> InvalidInputError:
        where = f"{at}: " if at else ""
        return InvalidInputError(f"{self.source}: {where}\"{key}\" must be {wanted}")

    def field(self, data: Mapping[str, Any], key: str, kind: type, at: str = "") -> Any:
        value = data.get(key)
        if not isinstance(value, kind):
            raise self._fail(at, key, _KIND_NAMES.get(kind, str(kind)))
        return value

    def integer(self, data: Mapping[str, Any], key: str, *, low: int, at: str = "") -> int:
        value = data.get(key) if isinstance(data, dict) else None
        if type(value) is not int or value < low or value >= 1 << 64:
            raise self._fail(at, key, f"a whole number from {low}")
        return value

    def number(self, data: Mapping[str, Any], key: str, at: str = "") -> float:
        value = data.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise self._fail(at, key, "a finite number")
        return float(value)

    def objects(self, data: Mapping[str, Any], key: str) -> Sequence[dict[str, Any]]:
        items: list[dict[str, Any]] = self.field(data, key, list)
        if not all(isinstance(item, dict) for item in items):
            raise self._fail("", key, "a list of objects")
        return items
