"""The rules every policy's candidate moves pass: cpuset, hysteresis, room on the target, budget.

A policy proposes moves in the order it wants them carried out (highest priority
first, a demotion that makes room before the promotion that needs it);
:func:`apply_rules` drops or trims what a rule forbids, keeps that order, and
adds one note per rule that held something back. :func:`finish` then builds
the :class:`Plan`. A move's ``pages`` is the resident pages on its source in
its range; when a rule cuts a range, the part keeps its share of them
(:func:`part`), since a snapshot counts pages per region, not per address.

Pure: no kernel interface. May import: numamove.errors and its own package.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from numamove.policy.base import Settings
from numamove.policy.plan import Move, Plan, PlannedProcess
from numamove.policy.snapshot import PastMove, Snapshot

__all__ = ["FAR", "apply_rules", "finish", "heat_text", "hot_rule", "merge_adjacent", "nodes_text", "part",
           "prefix_with", "size_text"]


FAR = 255
"""The SLIT distance of a pair of nodes the snapshot does not know: the farthest."""


def hot_rule(settings: Settings) -> str:
    """What counts as hot, in words: "heat > 0" or "heat >= 5"."""
    return f"heat >= {settings.min_heat:g}" if settings.min_heat > 0 else "heat > 0"


def size_text(count: float) -> str:
    """Bytes in words: 4096 -> "4 KiB", 1.5 GiB -> "1.5 GiB"."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def heat_text(heat: float, snapshot: Snapshot) -> str:
    """A region's heat with the profile's unit: "42 accesses/s", or "heat 42" without a unit."""
    shown = f"{heat:.3g}" if heat < 1000 else f"{heat:.0f}"
    unit = snapshot.trackers.heat_unit
    return f"{shown} {unit}" if unit else f"heat {shown}"


def nodes_text(nodes: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    ordered = sorted(set(nodes))
    runs: list[str] = []
    index = 0
    while index < len(ordered):
        last = index
        while last + 1 < len(ordered) and ordered[last + 1] == ordered[last] + 1:
            last += 1
        runs.append(str(ordered[index]) if last == index else f"{ordered[index]}-{ordered[last]}")
        index = last + 1
    return ",".join(runs)


def part(move: Move, start: int, end: int, page_size: int) -> Move | None:
    """The part of ``move`` in ``[start, end)`` (page-aligned), with its share of the pages.

    The pages are taken as spread evenly over the range: the part's count is the
    rounded-up share at its end less that at its start, so the parts of a move
    never count more pages than it has, nor more than their size. None when
    nothing is left.
    """
    start, end = max(start, move.start), min(end, move.end)
    if end <= start or move.pages <= 0:
        return None
    size_pages = max(1, (move.end - move.start) // page_size)
    first, last = (start - move.start) // page_size, (end - move.start) // page_size
    pages = (min(move.pages, math.ceil(move.pages * last / size_pages))
             - math.ceil(move.pages * first / size_pages))
    if pages <= 0:
        return None
    share = pages / move.pages
    return replace(move, start=start, end=end, pages=pages, gain=move.gain * share)


def prefix_with(move: Move, pages: int, page_size: int) -> Move:
    """The shortest leading part of ``move`` that counts at least ``pages`` pages (all of it at most)."""
    if pages >= move.pages:
        return move
    size_pages = max(1, (move.end - move.start) // page_size)
    span = min(size_pages, max(1, math.ceil(pages * size_pages / move.pages)))
    found = part(move, move.start, move.start + span * page_size, page_size)
    return found if found is not None else move


def _leading_within(move: Move, pages: int, page_size: int) -> Move | None:
    """The longest leading part of ``move`` that counts at most ``pages`` pages."""
    if pages <= 0:
        return None
    size_pages = max(1, (move.end - move.start) // page_size)
    span = (pages * size_pages) // move.pages
    while span > 0:
        found = part(move, move.start, move.start + span * page_size, page_size)
        if found is not None and found.pages <= pages:
            return found
        span -= 1
    return None


class _Tally:
    """What one rule held back: moves and bytes, and a few details for its note."""

    def __init__(self) -> None:
        self.moves = 0
        self.bytes = 0
        self.details: dict[str, None] = {}

    def hold(self, pages: int, page_size: int, detail: str = "") -> None:
        self.moves += 1
        self.bytes += pages * page_size
        if detail:
            self.details[detail] = None

    def what(self) -> str:
        return f"{self.moves} move{'s' if self.moves != 1 else ''} ({size_text(self.bytes)})"

    def detail_text(self) -> str:
        shown = list(self.details)[:3]
        more = len(self.details) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _cpuset(moves: Sequence[Move], snapshot: Snapshot, notes: list[str]) -> list[Move]:
    """No target outside the process's mems_allowed, without memory, or offline."""
    tally = _Tally()
    kept = []
    for move in moves:
        node = snapshot.node(move.target)
        process = snapshot.process(move.pid)
        allowed = None if process is None else process.mems_allowed
        if node is None or not node.has_memory:
            tally.hold(move.pages, snapshot.page_size, f"node {move.target} is offline or has no memory")
        elif allowed is not None and move.target not in allowed:
            tally.hold(move.pages, snapshot.page_size, f"node {move.target} is outside pid {move.pid}'s "
                       f"cpuset (mems {nodes_text(allowed) or 'none'})")
        else:
            kept.append(move)
    if tally.moves:
        notes.append(f"cpuset: {tally.what()} not planned: {tally.detail_text()}")
    return kept


def _recent(history: Iterable[PastMove], snapshot: Snapshot, hold: int) -> dict[int, list[tuple[int, int]]]:
    ranges: dict[int, list[tuple[int, int]]] = {}
    for past in history:
        if snapshot.interval - past.interval < hold:
            ranges.setdefault(past.pid, []).append((past.start, past.end))
    return {pid: sorted(found) for pid, found in ranges.items()}


def _hysteresis(moves: Sequence[Move], snapshot: Snapshot, hold: int, notes: list[str]) -> list[Move]:
    """A range that moved within the last ``hold`` intervals stays: its overlap is cut out of a move."""
    recent = _recent(snapshot.history, snapshot, hold)
    tally = _Tally()
    kept: list[Move] = []
    page = snapshot.page_size
    for move in moves:
        held = [(s, e) for s, e in recent.get(move.pid, []) if s < move.end and e > move.start]
        if not held:
            kept.append(move)
            continue
        cursor, pieces = move.start, []
        for start, end in held:
            if start > cursor:
                pieces.append((cursor, _align_down(start, page)))
            cursor = max(cursor, _align_up(end, page))
        pieces.append((cursor, move.end))
        parts = [found for s, e in pieces if (found := part(move, s, e, page)) is not None]
        kept.extend(parts)
        tally.hold(max(0, move.pages - sum(p.pages for p in parts)), page)
    if tally.moves:
        notes.append(f"hysteresis: {tally.what()} held where they went: moved within the last {hold} "
                     f"interval{'s' if hold != 1 else ''}")
    return kept


def _align_down(address: int, page: int) -> int:
    return address - address % page


def _align_up(address: int, page: int) -> int:
    return -(-address // page) * page


def _room_and_budget(moves: Sequence[Move], snapshot: Snapshot, settings: Settings,
                     notes: list[str]) -> list[Move]:
    """In order: a move fits when its target keeps its headroom (counting what earlier moves of the
    plan take out of that node) and the plan's bytes stay within the budget; the first move past the
    budget is trimmed to fit, the rest wait."""
    page = snapshot.page_size
    room = {node.id: node.free_bytes - math.ceil(settings.headroom * node.total_bytes)
            for node in snapshot.nodes}
    full, over = _Tally(), _Tally()
    left = settings.budget
    kept = []
    for move in moves:
        space = room.get(move.target, 0)
        if move.pages * page > space:
            full.hold(move.pages, page, str(move.target))
            continue
        if move.pages * page > left:
            trimmed = _leading_within(move, left // page, page)
            over.hold(move.pages - (trimmed.pages if trimmed else 0), page)
            if trimmed is None:
                continue
            move = trimmed
        kept.append(move)
        left -= move.pages * page
        room[move.target] = space - move.pages * page
        room[move.source] = room.get(move.source, 0) + move.pages * page
    if full.moves:
        targets = [int(node) for node in full.details]
        notes.append(f"room: {full.what()} not planned: node{'s' if len(targets) > 1 else ''} "
                     f"{nodes_text(targets)} would fall below the headroom "
                     f"({settings.headroom:.0%} kept free)")
    if over.moves:
        planned = sum(m.pages for m in kept) * page
        notes.append(f"budget: {over.what()} left for later; this plan moves {size_text(planned)} "
                     f"(budget {size_text(settings.budget)})")
    return kept


def apply_rules(candidates: Sequence[Move], snapshot: Snapshot,
                settings: Settings) -> tuple[list[Move], list[str]]:
    """The candidates that pass cpuset, hysteresis, room and budget, in their order, and the notes."""
    notes: list[str] = []
    moves = [move for move in candidates if move.pages > 0 and move.source != move.target]
    moves = _cpuset(moves, snapshot, notes)
    moves = _hysteresis(moves, snapshot, settings.hold, notes)
    moves = _room_and_budget(moves, snapshot, settings, notes)
    return moves, notes


def merge_adjacent(moves: Sequence[Move]) -> list[Move]:
    """Consecutive moves of one process, touching ranges, same source, target, kind and reason, as one."""
    merged: list[Move] = []
    for move in moves:
        last = merged[-1] if merged else None
        if (last is not None and last.end == move.start and
                (last.pid, last.source, last.target, last.kind, last.reason) ==
                (move.pid, move.source, move.target, move.kind, move.reason)):
            merged[-1] = replace(last, end=move.end, pages=last.pages + move.pages,
                                 gain=last.gain + move.gain)
        else:
            merged.append(move)
    return merged


def finish(policy: str, options: Mapping[str, str], snapshot: Snapshot, candidates: Sequence[Move],
           settings: Settings, notes: Sequence[str] = (), empty_because: str = "") -> Plan:
    """The plan: the candidates through :func:`apply_rules`, merged; the policy's notes first.

    ``empty_because`` is said when no candidate was proposed at all.
    """
    moves, rule_notes = apply_rules(candidates, snapshot, settings)
    said = list(notes) + rule_notes
    if not candidates and empty_because:
        said.insert(0, empty_because)
    elif candidates and not moves:
        said.append("no move passed the rules: the plan is empty")
    if snapshot.trackers.writes_only:
        said.append("the heat counts writes only (softdirty): memory that is only read looks cold")
    processes = tuple(PlannedProcess(p.pid, p.start, p.name) for p in snapshot.processes)
    return Plan(policy, processes, tuple(merge_adjacent(moves)), tuple(said), dict(options),
                page_size=snapshot.page_size)
