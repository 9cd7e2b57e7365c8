"""The shared rules (cpuset, hysteresis, room, budget): each test fails when its rule is removed.

Then properties over random snapshots (no hypothesis in the venv: a seeded generator): no plan
of any policy exceeds its budget or a node's room, targets a node outside the cpuset, or moves
more pages off a node than the process has there.
"""

from __future__ import annotations

import math
import random

import pytest

import numamove.policy  # noqa: F401  (registers the policies)
from numamove.policy.base import REGISTRY, Settings
from numamove.policy.plan import Move
from numamove.policy.rules import apply_rules, merge_adjacent, nodes_text, part, size_text
from numamove.policy.snapshot import NodeState, PastMove, Snapshot

from .policy_snapshots import BASE, DISTANCES, PID, GiB, MiB, P, node, region, snapshot


def move(first_page: int, pages: int, source: int = 0, target: int = 1, *, kind: str = "locality",
         pid: int = PID, reason: str = "test") -> Move:
    return Move(pid, BASE + first_page * P, BASE + (first_page + pages) * P, source, target, pages, kind,
                reason, float(pages * P))


ROOMY = Settings(budget=GiB, hold=3, headroom=0.0)


# --- cpuset -------------------------------------------------------------------------------------------


def test_cpuset_keeps_targets_inside_mems_allowed() -> None:
    snap = snapshot(mems=frozenset({0, 2}))
    kept, notes = apply_rules([move(0, 8, 0, 1), move(8, 8, 0, 2)], snap, ROOMY)
    assert [m.target for m in kept] == [2]
    assert notes == ["cpuset: 1 move (32 KiB) not planned: node 1 is outside pid 4242's cpuset (mems 0,2)"]


def test_cpuset_refuses_offline_and_memoryless_targets() -> None:
    nodes = (node(0), NodeState(1, True, False, 0, 0))
    kept, notes = apply_rules([move(0, 8, 0, 1), move(8, 8, 0, 3)], snapshot(nodes=nodes), ROOMY)
    assert kept == []
    assert notes == ["cpuset: 2 moves (64 KiB) not planned: node 1 is offline or has no memory; node 3 is "
                     "offline or has no memory"]


def test_a_policy_plan_obeys_the_cpuset() -> None:
    made = REGISTRY.build("locality").plan(snapshot(region(0, {0: 8}, 9.0, {1: 1.0}), mems=frozenset({0})))
    assert made.moves == ()
    assert made.notes[0].startswith("cpuset: 1 move (32 KiB) not planned")


# --- hysteresis ---------------------------------------------------------------------------------------


def past(first_page: int, pages: int, interval: int, pid: int = PID) -> PastMove:
    return PastMove(pid, BASE + first_page * P, BASE + (first_page + pages) * P, 1, 0, interval)


def test_hysteresis_cuts_out_what_moved_within_hold_intervals() -> None:
    history = (past(0, 40, 9), past(60, 10, 8))
    kept, notes = apply_rules([move(0, 100)], snapshot(history=history, interval=10), ROOMY)
    assert [((m.start - BASE) // P, (m.end - BASE) // P, m.pages) for m in kept] == [(40, 60, 20),
                                                                                      (70, 100, 30)]
    assert notes == ["hysteresis: 1 move (200 KiB) held where they went: moved within the last 3 intervals"]


@pytest.mark.parametrize("history", [(past(0, 40, 7),), (past(0, 40, 9, pid=PID + 1),), (past(100, 8, 9),)])
def test_hysteresis_forgets_old_moves_and_other_ranges(history: tuple[PastMove, ...]) -> None:
    kept, notes = apply_rules([move(0, 100)], snapshot(history=history, interval=10), ROOMY)
    assert kept == [move(0, 100)] and notes == []


def test_hysteresis_holds_a_whole_move_back_and_hold_zero_lets_it_go() -> None:
    snap = snapshot(history=(past(0, 100, 10),), interval=10)
    assert apply_rules([move(10, 20)], snap, ROOMY)[0] == []
    assert apply_rules([move(10, 20)], snap, Settings(hold=0, headroom=0.0))[0] == [move(10, 20)]


# --- room ---------------------------------------------------------------------------------------------


def test_room_drops_moves_that_would_eat_the_targets_headroom() -> None:
    nodes = (node(0), node(1, free=math.ceil(0.05 * GiB) + 64 * P), node(2))
    kept, notes = apply_rules([move(0, 32), move(32, 64), move(96, 32)], snapshot(nodes=nodes), Settings())
    assert [m.pages for m in kept] == [32, 32]
    assert notes == ["room: 1 move (256 KiB) not planned: node 1 would fall below the headroom "
                     "(5% kept free)"]


def test_room_counts_what_earlier_moves_take_out_of_a_node() -> None:
    nodes = (node(0), node(1, free=0, total=MiB), node(2))
    demote, promote = move(0, 16, 1, 2, kind="demote"), move(16, 16, 0, 1, kind="promote")
    kept, _ = apply_rules([demote, promote], snapshot(nodes=nodes), ROOMY)
    assert kept == [demote, promote]
    kept, notes = apply_rules([promote, demote], snapshot(nodes=nodes), ROOMY)
    assert kept == [demote] and notes[0].startswith("room: 1 move (64 KiB) not planned")


# --- budget -------------------------------------------------------------------------------------------


def test_budget_takes_moves_in_order_and_trims_the_first_that_does_not_fit() -> None:
    settings = Settings(budget=2560 * 1024, headroom=0.0)
    kept, notes = apply_rules([move(0, 256), move(256, 256), move(512, 256)], snapshot(), settings)
    assert [(m.start, m.end, m.pages) for m in kept] == [(BASE, BASE + 256 * P, 256),
                                                          (BASE + 256 * P, BASE + 512 * P, 256),
                                                          (BASE + 512 * P, BASE + 640 * P, 128)]
    assert sum(m.pages for m in kept) * P == settings.budget
    assert notes == ["budget: 1 move (512 KiB) left for later; this plan moves 2.5 MiB (budget 2.5 MiB)"]
    kept, notes = apply_rules([move(0, 256), move(256, 256), move(512, 256)], snapshot(),
                              Settings(budget=1 << 20, headroom=0.0))
    assert [m.pages for m in kept] == [256]
    assert notes == ["budget: 2 moves (2 MiB) left for later; this plan moves 1 MiB (budget 1 MiB)"]


def test_a_policy_plan_stays_within_its_budget() -> None:
    snap = snapshot(region(0, {0: 1024}, 9.0, {1: 1.0}), region(1024, {0: 1024}, 5.0, {1: 1.0}))
    made = REGISTRY.build("locality", {"budget": "6M"}).plan(snap)
    assert [(m.start, m.pages) for m in made.moves] == [(BASE, 1024), (BASE + 1024 * P, 512)]
    assert made.notes == ("budget: 1 move (2 MiB) left for later; this plan moves 6 MiB (budget 6 MiB)",)


# --- helpers ------------------------------------------------------------------------------------------


def test_rules_drop_empty_and_same_node_moves_and_keep_the_order() -> None:
    moves = [move(0, 8, 2, 0, kind="demote"), move(8, 0), move(16, 8, 1, 1), move(24, 8, 2, 1)]
    assert apply_rules(moves, snapshot(), ROOMY)[0] == [moves[0], moves[3]]


def test_parts_keep_their_share_of_the_pages_and_adjacent_moves_merge() -> None:
    sparse = Move(PID, BASE, BASE + 100 * P, 0, 1, 10, "balance", "r", 1000.0)
    half = part(sparse, BASE + 50 * P, BASE + 100 * P, P)
    assert half is not None and (half.pages, half.gain) == (5, 500.0)
    assert part(sparse, BASE + 100 * P, BASE + 200 * P, P) is None
    assert merge_adjacent([move(0, 8), move(8, 8), move(20, 8), move(28, 8, 0, 2)]) == [
        Move(PID, BASE, BASE + 16 * P, 0, 1, 16, "locality", "test", 16.0 * P), move(20, 8),
        move(28, 8, 0, 2)]
    assert (size_text(4096), size_text(3 << 29), size_text(100), nodes_text([0, 1, 2, 5])) == (
        "4 KiB", "1.5 GiB", "100 B", "0-2,5")


# --- properties ---------------------------------------------------------------------------------------


def random_snapshot(rng: random.Random) -> Snapshot:
    nodes = tuple(node(n, free=rng.choice([0, 1, 64, 512]) * MiB, total=rng.choice([1, 2]) * GiB)
                  for n in DISTANCES)
    regions = []
    first = 0
    for pid in (PID, PID + 1):
        for _ in range(rng.randint(0, 8)):
            size = rng.choice([1, 7, 256, 4096, 20000])
            spread = {n: rng.randint(0, size) for n in rng.sample(range(3), rng.randint(1, 3))}
            scale = sum(spread.values()) or 1
            pages = {n: size * c // scale for n, c in spread.items()}
            shares = {n: rng.random() for n in rng.sample(range(3), rng.randint(1, 3))}
            total = sum(shares.values())
            accessing = {n: s / total for n, s in shares.items()} if rng.random() < 0.8 else None
            heat = rng.choice([0.0, 0.5, 3.0, 40.0])
            regions.append(region(first, pages, heat, accessing, size=size, pid=pid))
            first += size + rng.choice([0, 1])
    history = tuple(past(rng.randint(0, first + 1), rng.randint(1, 500), rng.randint(0, 10))
                    for _ in range(rng.randint(0, 3)))
    mems = rng.choice([None, frozenset({0, 1}), frozenset({0, 2}), frozenset({1})])
    return snapshot(*regions, nodes=nodes, mems=mems, history=history, interval=10)


@pytest.mark.parametrize("seed", range(60))
def test_no_plan_breaks_a_rule(seed: int) -> None:
    rng = random.Random(seed)
    snap = random_snapshot(rng)
    options = {"budget": rng.choice(["64K", "4M", "1G"]), "headroom": rng.choice(["0", "0.05", "0.2"])}
    for name in REGISTRY.names():
        made = REGISTRY.build(name, options).plan(snap)
        settings = Settings(budget={"64K": 64 << 10, "4M": 4 << 20, "1G": 1 << 30}[options["budget"]],
                            headroom=float(options["headroom"]))
        assert sum(m.pages for m in made.moves) * P <= settings.budget
        room = {n.id: n.free_bytes - math.ceil(settings.headroom * n.total_bytes) for n in snap.nodes}
        held: dict[tuple[int, int], int] = {}
        for planned in made.moves:
            assert planned.pages * P <= room[planned.target], (name, planned)
            room[planned.target] -= planned.pages * P
            room[planned.source] += planned.pages * P
            assert snap.processes[0].mems_allowed is None or planned.target in snap.processes[0].mems_allowed
            assert 0 < planned.pages <= (planned.end - planned.start) // P
            assert planned.source != planned.target
            assert not any(p.pid == planned.pid and p.start < planned.end and p.end > planned.start
                           for p in snap.history if snap.interval - p.interval < 3), (name, planned)
            held[(planned.pid, planned.source)] = held.get((planned.pid, planned.source), 0) + planned.pages
        for (pid, source), pages in held.items():
            there = sum(r.pages.get(source, 0) for r in snap.regions if r.pid == pid)
            assert pages <= there, (name, pid, source)
        assert made.moves or made.notes, name
