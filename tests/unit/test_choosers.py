"""The choosers: weights checked and normalised, and balance's least movement."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

import numamove
from numamove.move.engine import preview
from numamove.policy.choosers import balance, interleave
from numamove.policy.units import Units

BASE = 0x7F0000000000


def units(nodes: list[int], sizes: list[int] | None = None) -> Units:
    sizes = sizes or [1] * len(nodes)
    starts = BASE + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.uint64) * np.uint64(4096)
    return Units(starts.astype(np.uint64), np.array(sizes, dtype=np.int64), np.array(nodes, dtype=np.int32))


def pages_per_node(u: Units, targets: Any) -> list[int]:
    counts: list[int] = np.bincount(targets, weights=u.pages, minlength=3).astype(int).tolist()
    return counts


@pytest.mark.parametrize("chooser", [interleave, balance])
@pytest.mark.parametrize(("weights", "message"), [
    ({0: math.nan, 1: 1}, "the weight of node 0 must be finite and positive, not nan"),
    ({0: math.inf, 1: 1}, "the weight of node 0 must be finite and positive, not inf"),
    ({0: 1, 1: -math.inf}, "the weight of node 1 must be finite and positive, not -inf"),
    ({0: math.nan}, "the weight of node 0 must be finite and positive, not nan"),
    ({0: 0, 1: 1}, "the weight of node 0 must be finite and positive, not 0"),
    ({0: -1.0}, "the weight of node 0 must be finite and positive, not -1.0"),
    ({}, "weights name no node"),
    ({-1: 1}, "a node of weights must be at least 0, not -1"),
    ({10**12: 1}, "a node of weights must be at most 1023"),
])
def test_weights_must_be_finite_and_positive(chooser: Any, weights: dict[int, float], message: str) -> None:
    with pytest.raises(numamove.InvalidInputError, match=re.escape(message)):
        chooser(weights)


@pytest.mark.parametrize("chooser", [interleave, balance])
@pytest.mark.parametrize(("weights", "message"), [
    ({0: "1"}, "the weight of node 0 must be a number, not str"),
    ({0: True}, "the weight of node 0 must be a number, not bool"),
    ({"0": 1}, "a node of weights must be an int, not str"),
    ([0, 1], "weights must be a mapping of node to weight, not list"),
])
def test_weights_of_the_wrong_type(chooser: Any, weights: Any, message: str) -> None:
    with pytest.raises(numamove.InputTypeError, match=re.escape(message)):
        chooser(weights)


@pytest.mark.parametrize("chooser", [interleave, balance])
@pytest.mark.parametrize(("weights", "expected"), [
    ({0: 1e-9, 1: 1e-9}, [600, 600, 0]),
    ({0: 1e308, 1: 1e308}, [600, 600, 0]),
    ({0: 3e-300, 1: 1e-300}, [900, 300, 0]),
    ({0: 1.5e308, 1: 0.5e308}, [900, 300, 0]),
    ({0: 7, 1: 3}, [840, 360, 0]),
    ({0: 1, 1: 1, 2: 1}, [400, 400, 400]),
])
def test_tiny_and_huge_weights_are_ratios(chooser: Any, weights: dict[int, float],
                                          expected: list[int]) -> None:
    u = units([2] * 1200) if 2 not in weights else units([5] * 1200)
    assert pages_per_node(u, chooser(weights)(u))[:3] == expected


def test_balance_moves_nothing_when_the_shares_are_met() -> None:
    u = units([0] * 101 + [1] * 101 + [2] * 100)
    targets = balance({0: 1, 1: 1, 2: 1})(u)
    assert (targets == u.nodes).all()
    assert preview(u, balance({0: 1, 1: 1, 2: 1})).pages_moved == 0
    # interleave, dealing in address order, would have moved two thirds of them.
    assert preview(u, interleave({0: 1, 1: 1, 2: 1})).pages_moved > 190


def test_balance_moves_only_the_surplus_to_the_nodes_short_of_their_share() -> None:
    u = units([0] * 600 + [1] * 300 + [2] * 300 + [-2] * 50)  # 1200 present pages: 400 each
    targets = balance({0: 1, 1: 1, 2: 1})(u)
    result = preview(u, balance({0: 1, 1: 1, 2: 1}))
    assert result.moved == {(0, 1): 100, (0, 2): 100}
    present = u.nodes >= 0
    assert pages_per_node(u.subset(present), targets[present]) == [400, 400, 400]
    assert (targets[u.nodes < 0] == -2).all()  # not present: left alone


def test_balance_never_moves_a_page_to_a_node_over_its_share() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        nodes = rng.integers(0, 4, size=rng.integers(1, 400)).tolist()
        weights = {node: float(rng.uniform(0.1, 5)) for node in range(3)}
        u = units(nodes)
        targets = balance(weights)(u)
        total = len(nodes)
        share = {node: total * w / sum(weights.values()) for node, w in weights.items()}
        held = np.bincount(u.nodes, minlength=4)
        moved = targets != u.nodes
        for source, target in set(zip(u.nodes[moved].tolist(), targets[moved].tolist(), strict=True)):
            assert target in weights and held[target] < share[target] + 1
            if source in weights:  # a page leaves a node of the set only from its surplus
                assert held[source] > share[source]
        # Movement: what must leave = pages off the set, plus each node's surplus beyond a page of rounding.
        needed = int(held[3]) + sum(max(int(held[n]) - math.ceil(share[n]), 0) for n in weights)
        assert int(moved.sum()) == needed
        final = np.bincount(targets, minlength=4)
        assert final[3] == 0
        assert all(abs(final[n] - share[n]) <= 2 for n in weights)


def test_balance_counts_huge_units_by_their_pages() -> None:
    # Node 0 holds 4 THPs (2048 pages), node 1 has 512 base pages: 1280 each is the share.
    u = units([0] * 4 + [1] * 512, [512] * 4 + [1] * 512)
    result = preview(u, balance({0: 1, 1: 1}))
    assert result.moved == {(0, 1): 512}  # the surplus of 768 is 1.5 THPs: one moves (a tie stays)
    assert result.already_there == 2048 + 512 - 512


def test_balance_from_a_node_outside_the_set_deals_in_proportion() -> None:
    u = units([2] * 400 + [0] * 100)
    result = preview(u, balance({0: 1, 1: 1}))
    assert result.moved == {(2, 0): 150, (2, 1): 250}
