"""The locality, tiering, balance and log policies on hand-made snapshots: their moves and reasons."""

from __future__ import annotations

import math

import pytest

import numamove.policy  # noqa: F401  (registers the policies)
from numamove.errors import InvalidInputError
from numamove.policy.base import REGISTRY
from numamove.policy.plan import Move, Plan
from numamove.policy.snapshot import PastMove

from .policy_snapshots import BASE, PID, GiB, MiB, P, node, region, snapshot


def plan(name: str, snap: object, **options: str) -> Plan:
    policy = REGISTRY.build(name, options)
    made = policy.plan(snap)  # type: ignore[arg-type]
    assert [p.pid for p in made.processes] == [p.pid for p in snap.processes]  # type: ignore[attr-defined]
    assert made.options == options and made.policy == name
    return made


def where(move: Move) -> tuple[int, int, int, int, int, str]:
    return (move.start - BASE) // P, (move.end - BASE) // P, move.source, move.target, move.pages, move.kind


# --- locality -----------------------------------------------------------------------------------------


def test_locality_moves_hot_memory_to_the_dominant_node_with_its_reason() -> None:
    made = plan("locality", snapshot(region(0, {0: 256}, 42, {1: 0.91, 0: 0.09}), region(256, {0: 512}, 0.0)))
    assert [where(m) for m in made.moves] == [(0, 256, 0, 1, 256, "locality")]
    move = made.moves[0]
    assert move.reason == "hot: 42 accesses/s, 91% from node 1's threads"
    assert move.gain == pytest.approx(256 * P * 0.82)
    assert made.page_size == P and made.notes == ()


def test_locality_moves_each_source_node_and_counts_shared_memory_like_private() -> None:
    shared = region(0, {0: 10, 2: 20, 1: 5}, 9, {1: 1.0}, mapping="/dev/zero (deleted)")
    made = plan("locality", snapshot(shared))
    assert [where(m) for m in made.moves] == [(0, 35, 2, 1, 20, "locality"), (0, 35, 0, 1, 10, "locality")]


def test_locality_orders_by_heat_times_gain() -> None:
    made = plan("locality", snapshot(region(0, {0: 100}, 5, {1: 1.0}), region(100, {0: 100}, 50, {1: 1.0})))
    assert [where(m)[0] for m in made.moves] == [100, 0]


def test_locality_splits_a_region_by_share_when_no_node_dominates() -> None:
    made = plan("locality", snapshot(region(0, {0: 100}, 30, {0: 0.5, 1: 0.5})))
    assert [where(m) for m in made.moves] == [(50, 100, 0, 1, 50, "locality")]
    assert made.moves[0].reason == ("hot: 30 accesses/s, accessed 50% from node 0, 50% from node 1: "
                                    "the part for node 1 (weighted)")
    assert plan("locality", snapshot(region(0, {0: 100}, 30, {0: 0.5, 1: 0.5})), dominant="0.5").moves == ()


def test_locality_leaves_a_region_already_spread_as_its_accesses() -> None:
    made = plan("locality", snapshot(region(0, {0: 52, 1: 48}, 30, {0: 0.5, 1: 0.5})))
    assert made.moves == () and made.notes == ("all hot memory is already local",)


@pytest.mark.parametrize(("regions", "note"), [
    ((region(0, {0: 100}, 0.0, {1: 1.0}),), "no region is hot (heat > 0)"),
    ((region(0, {0: 100}, 7.0),), "no tracker said which nodes access the memory: add the threads tracker "
                                  "(damon,threads)"),
    ((region(0, {1: 100}, 7.0, {1: 1.0}),), "all hot memory is already local"),
    ((region(0, {0: 100}, 7.0, {2: 1.0}),), "all hot memory is already local"),
])
def test_locality_says_why_its_plan_is_empty(regions: tuple[object, ...], note: str) -> None:
    made = plan("locality", snapshot(*regions))  # type: ignore[arg-type]
    assert made.moves == () and made.notes == (note,)


def test_locality_min_heat_and_the_writes_only_warning() -> None:
    made = plan("locality", snapshot(region(0, {0: 100}, 3.0, {1: 1.0}), writes_only=True), min_heat="5")
    assert made.moves == ()
    assert made.notes == ("no region is hot (heat >= 5)",
                          "the heat counts writes only (softdirty): memory that is only read looks cold")


def test_locality_refuses_a_bad_dominant_share_naming_it() -> None:
    with pytest.raises(InvalidInputError, match="locality option dominant must be a number from 0 to 1"):
        REGISTRY.build("locality", {"dominant": "2"})


# --- tiering --------------------------------------------------------------------------------------------

HOT = 16 * MiB // P
KEEP = math.ceil(0.05 * GiB)
"""The default headroom of a 1 GiB node."""
FULL_1 = node(1, free=math.ceil(0.05 * MiB), total=MiB)
"""Node 1 with no room above its headroom."""
COLD = 64 * MiB // P


def test_tiering_promotes_the_hot_set_to_the_accessing_fast_node() -> None:
    made = plan("tiering", snapshot(region(0, {2: HOT}, 50, {1: 1.0}), region(HOT, {2: COLD}, 0.0)))
    assert [where(m) for m in made.moves] == [(0, HOT, 2, 1, HOT, "promote")]
    assert made.moves[0].reason == "hot: 50 accesses/s, in the hottest 16 MiB that fit the fast tier"
    assert made.moves[0].gain == 16 * MiB
    assert made.summary()["promote_bytes"] == 16 * MiB


def test_tiering_without_accessing_nodes_promotes_to_the_nearest_fast_node() -> None:
    made = plan("tiering", snapshot(region(0, {2: HOT}, 50)))
    assert [where(m) for m in made.moves] == [(0, HOT, 2, 0, HOT, "promote")]


def test_tiering_promotes_elsewhere_when_the_accessing_node_cannot_make_room() -> None:
    nodes = (node(0), FULL_1, node(2))
    made = plan("tiering", snapshot(region(0, {2: HOT}, 50, {1: 1.0}), nodes=nodes))
    assert [where(m) for m in made.moves] == [(0, HOT, 2, 0, HOT, "promote")]


def test_tiering_demotes_the_coldest_first_only_as_much_as_the_promotion_needs() -> None:
    # Node 0 keeps 5% of 1 GiB free; 8 MiB above that is free, so 8 MiB of cold memory must go.
    nodes = (node(0, free=KEEP + 8 * MiB), FULL_1, node(2))
    snap = snapshot(region(0, {2: HOT}, 50, {0: 1.0}), region(HOT, {0: COLD}, 0.0),
                    region(HOT + COLD, {0: COLD}, 0.5), nodes=nodes)
    made = plan("tiering", snap, min_heat="1")
    assert [where(m) for m in made.moves] == [(HOT, HOT + 8 * MiB // P, 0, 2, 8 * MiB // P, "demote"),
                                             (0, HOT, 2, 0, HOT, "promote")]
    assert made.moves[0].reason == "cold: no access in 8 s, makes room on node 0"
    cold = plan("tiering", snap, min_heat="1", demote="cold")
    assert [where(m)[:4] for m in cold.moves] == [(HOT, HOT + 8 * MiB // P, 0, 2), (0, HOT, 2, 0),
                                                  (HOT + 8 * MiB // P, HOT + COLD, 0, 2),
                                                  (HOT + COLD, HOT + 2 * COLD, 0, 2)]
    assert cold.moves[-1].reason == "cold: 0.5 accesses/s, below the hot threshold, off the fast tier"


def test_tiering_restores_the_fast_tiers_headroom() -> None:
    nodes = (node(0, free=10 * MiB), FULL_1, node(2))
    made = plan("tiering", snapshot(region(0, {0: COLD}, 0.0), nodes=nodes))
    need = math.ceil((KEEP - 10 * MiB) / P)
    assert [where(m)[2:4] for m in made.moves] == [(0, 2)]
    assert made.moves[0].pages == need
    assert made.moves[0].reason == "cold: no access in 8 s, restores node 0's headroom"


def test_tiering_sizes_the_hot_set_to_fit_the_fast_tier() -> None:
    room = KEEP + 20 * MiB
    nodes = (node(0, free=room), FULL_1, node(2))
    made = plan("tiering", snapshot(region(0, {2: HOT}, 10), region(HOT, {2: HOT}, 50), nodes=nodes))
    assert [where(m) for m in made.moves] == [(HOT, 2 * HOT, 2, 0, HOT, "promote")]
    assert made.notes == ("1 hot regions (16 MiB) do not fit the fast tier's 20 MiB for these processes and "
                          "stay where they are",)


def test_tiering_demotes_warm_memory_outside_the_hot_set_when_a_hotter_set_needs_its_room() -> None:
    # A phase change: the last hot set (now 5 accesses/s) fills node 0, the new one (50) is on node 2.
    nodes = (node(0, free=KEEP), FULL_1, node(2))
    snap = snapshot(region(0, {0: HOT}, 5), region(HOT, {2: HOT}, 50, {0: 1.0}), nodes=nodes)
    made = plan("tiering", snap)
    assert [where(m) for m in made.moves] == [(0, HOT, 0, 2, HOT, "demote"),
                                             (HOT, 2 * HOT, 2, 0, HOT, "promote")]
    assert made.moves[0].reason == ("warm: 5 accesses/s, outside the hot set that fits the tier, makes room "
                                    "on node 0")
    # demote=cold leaves warm memory where it is unless a promotion needs the room.
    nothing_hotter = snapshot(region(0, {0: HOT}, 5), nodes=(node(0, free=KEEP + HOT * P), FULL_1, node(2)))
    assert plan("tiering", nothing_hotter, demote="cold").moves == ()


def test_tiering_swaps_a_region_in_only_when_it_is_hotter_by_the_margin() -> None:
    # The fast tier is full with a region at 40; one at 50 waits below: noise between two profiles can
    # make that much difference, so by default (margin 0.5: 40 ranks as 60) nothing swaps.
    nodes = (node(0, free=KEEP), FULL_1, node(2))
    snap = snapshot(region(0, {0: HOT}, 40), region(HOT, {2: HOT}, 50, {0: 1.0}), nodes=nodes)
    held = plan("tiering", snap)
    assert held.moves == ()
    assert ("1 regions below (16 MiB) read hotter than memory on the fast tier, but by less than the margin "
            "(0.5), and stay where they are") in held.notes
    swapped = [(0, HOT, 0, 2, HOT, "demote"), (HOT, 2 * HOT, 2, 0, HOT, "promote")]
    assert [where(m) for m in plan("tiering", snap, margin="0").moves] == swapped
    assert [where(m) for m in plan("tiering", snap, margin="20%").moves] == swapped
    hotter = snapshot(region(0, {0: HOT}, 40), region(HOT, {2: HOT}, 61, {0: 1.0}), nodes=nodes)
    assert [where(m) for m in plan("tiering", hotter).moves] == swapped
    # A region half on the fast tier gets half the margin: 40 ranks as 50, below 55.
    half = snapshot(region(0, {0: HOT // 2, 2: HOT // 2}, 40), region(HOT, {2: HOT}, 55, {0: 1.0}),
                    nodes=(node(0, free=KEEP + HOT // 2 * P), FULL_1, node(2)))
    assert [where(m)[4:] for m in plan("tiering", half).moves] == [(HOT // 2, "demote"), (HOT, "promote")]
    with pytest.raises(InvalidInputError, match="option margin must be a number from 0 to 100, not '-1'"):
        REGISTRY.build("tiering", {"margin": "-1"})


def test_tiering_takes_tiers_from_the_kernel_when_it_has_them() -> None:
    # Node 1 is in a slower tier although it has CPUs: the hot pages there go to node 0.
    nodes = (node(0, tier=4), node(1, tier=22), node(2, tier=22))
    made = plan("tiering", snapshot(region(0, {1: HOT}, 50), nodes=nodes))
    assert [where(m) for m in made.moves] == [(0, HOT, 1, 0, HOT, "promote")]


@pytest.mark.parametrize(("regions", "nodes", "note"), [
    ((region(0, {0: HOT}, 50),), None, "the hot set (16 MiB) is already on the fast tier (nodes 0-1) and the "
                                       "fast tier keeps its headroom"),
    ((region(0, {2: HOT}, 0.0),), None, "no region is hot (heat > 0) and the fast tier keeps its headroom"),
    ((region(0, {0: HOT}, 50),), (node(0), node(1)), "every memory node (0-1) is in one tier: there is no "
                                                    "slower tier to promote from or demote to"),
])
def test_tiering_says_why_its_plan_is_empty(regions: tuple[object, ...], nodes: object, note: str) -> None:
    made = plan("tiering", snapshot(*regions, nodes=nodes))  # type: ignore[arg-type]
    assert made.moves == () and made.notes == (note,)


def test_tiering_refuses_an_unknown_demote_mode() -> None:
    with pytest.raises(InvalidInputError, match="tiering option demote must be needed or cold, not 'all'"):
        REGISTRY.build("tiering", {"demote": "all"})


# --- balance --------------------------------------------------------------------------------------------


def test_balance_moves_the_coldest_regions_from_the_node_over_its_share() -> None:
    snap = snapshot(region(0, {0: 40}, 9.0), region(40, {0: 40}, 1.0), region(80, {1: 20}, 0.0))
    made = plan("balance", snap, weights="0:1,1:1")
    assert [where(m) for m in made.moves] == [(40, 70, 0, 1, 30, "balance")]
    assert made.moves[0].reason == "balance: node 0 holds 80% of the pages, its share is 50%"


def test_balance_by_free_memory_by_default_and_by_capacity() -> None:
    nodes = (node(0, free=100 * MiB), node(1, free=300 * MiB), node(2, free=GiB, total=2 * GiB))
    # By free memory within the cpuset (nodes 0-1): 1:3.
    within = snapshot(region(0, {0: 100}), nodes=nodes, mems=frozenset({0, 1}))
    assert [where(m) for m in plan("balance", within).moves] == [(0, 75, 0, 1, 75, "balance")]
    snap = snapshot(region(0, {0: 100}), nodes=nodes)
    # By capacity 1:1:2; the nearest node short of its share (node 2, distance 17) is filled first.
    by_total = plan("balance", snap, weights="total").moves
    assert [where(m) for m in by_total] == [(0, 50, 0, 2, 50, "balance"), (50, 75, 0, 1, 25, "balance")]


def test_balance_keeps_the_cpuset_and_says_when_balanced() -> None:
    made = plan("balance", snapshot(region(0, {0: 50, 1: 50}), mems=frozenset({0, 1})), weights="0:1,1:1,2:1")
    assert made.moves == () and made.notes == ("each process is already spread by its weights",)


@pytest.mark.parametrize("text", ["x:1", "0:-1", "0:0", "0:1,", "free,0"])
def test_balance_refuses_bad_weights_in_one_line(text: str) -> None:
    with pytest.raises(InvalidInputError, match="balance option weights") as caught:
        REGISTRY.build("balance", {"weights": text})
    assert "\n" not in str(caught.value)


# --- log --------------------------------------------------------------------------------------------------


def test_log_moves_what_is_accessed_mostly_from_another_node() -> None:
    snap = snapshot(region(0, {0: 64, 1: 8}, 120, {1: 0.83, 0: 0.17}), region(72, {1: 8}, 10, {1: 1.0}),
                    region(80, {0: 8}, 10, {1: 0.4, 0: 0.35, 2: 0.25}), unit="samples")
    made = plan("log", snap)
    assert [where(m) for m in made.moves] == [(0, 72, 0, 1, 64, "locality")]
    assert made.moves[0].reason == "access log: 83% of 120 samples from node 1"
    assert plan("log", snap, mostly="0.4").moves[-1].target == 1


def test_log_says_why_its_plan_is_empty() -> None:
    assert plan("log", snapshot(region(0, {0: 8}, 5))).notes[0].startswith("no access log said which nodes")
    assert plan("log", snapshot(region(0, {0: 8}, 0.0, {1: 1.0}))).notes == (
        "no region with accessing nodes was accessed (heat > 0)",)
    assert plan("log", snapshot(region(0, {0: 8}, 3.0, {1: 1.0})), mostly="100%").moves != ()


def test_every_policy_reports_its_processes_and_page_size() -> None:
    snap = snapshot(region(0, {0: 8}, 5.0, {1: 1.0}, pid=PID + 1))
    for name in REGISTRY.names():
        made = plan(name, snap)
        assert [(p.pid, p.start, p.name) for p in made.processes] == [(PID, 1000 + PID, "worker"),
                                                                      (PID + 1, 1001 + PID, "worker")]
        assert made.page_size == P


def test_memory_that_just_moved_does_not_move_back() -> None:
    came = PastMove(PID, BASE, BASE + 64 * P, 0, 1, interval=9)
    back = region(0, {1: 64}, 30.0, {0: 1.0})
    made = plan("locality", snapshot(back, history=(came,), interval=10))
    assert made.moves == ()
    assert made.notes == ("hysteresis: 1 move (256 KiB) held where they went: moved within the last 3 "
                          "intervals", "no move passed the rules: the plan is empty")
    assert [where(m) for m in plan("locality", snapshot(back, history=(came,), interval=12)).moves] == [
        (0, 64, 1, 0, 64, "locality")]


def test_tiering_keeps_the_demotion_before_the_promotion_it_makes_room_for_under_a_budget() -> None:
    nodes = (node(0, free=KEEP), FULL_1, node(2))
    snap = snapshot(region(0, {2: HOT}, 50, {0: 1.0}), region(HOT, {0: COLD}, 0.0), nodes=nodes)
    made = plan("tiering", snap, budget="32M")
    assert [where(m) for m in made.moves] == [(HOT, 2 * HOT, 0, 2, HOT, "demote"),
                                              (0, HOT, 2, 0, HOT, "promote")]
    short = plan("tiering", snap, budget="20M")
    assert [where(m) for m in short.moves] == [(HOT, 2 * HOT, 0, 2, HOT, "demote"),
                                               (0, HOT // 4, 2, 0, HOT // 4, "promote")]
    assert short.notes == ("budget: 1 move (12 MiB) left for later; this plan moves 20 MiB (budget 20 MiB)",)
