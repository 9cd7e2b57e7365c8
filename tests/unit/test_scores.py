"""The evaluation's scores (numamove.policy.scores) on hand-made placements."""

from __future__ import annotations

import numpy as np
import pytest

from numamove.policy.scores import awr, convergence_time, minimum_moves, node_changes, ping_pong


def test_awr_weights_the_pages_on_wanted_nodes() -> None:
    nodes = np.array([0, 1, 1, 2])
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    assert awr(nodes, weights, {1}) == pytest.approx(0.5)
    assert awr(nodes, weights, [0, 1]) == pytest.approx(0.6)
    assert awr(nodes, weights, {5}) == 0.0


def test_awr_takes_a_wanted_node_per_page_and_never_counts_missing_pages() -> None:
    nodes = np.array([0, 1, -2, 1])
    assert awr(nodes, np.ones(4), np.array([0, 0, -2, 1])) == pytest.approx(0.5)
    assert awr(np.array([-2, -14]), np.ones(2), {0, 1}) == 0.0


def test_awr_of_no_weight_is_zero_and_shapes_must_match() -> None:
    assert awr(np.array([1, 1]), np.zeros(2), {1}) == 0.0
    with pytest.raises(ValueError, match="2 nodes for 3 weights"):
        awr(np.array([1, 1]), np.ones(3), {1})


def test_convergence_is_the_first_sample_reaching_the_target_after_the_start() -> None:
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    values = [0.0, 0.97, 0.2, 0.5, 0.96, 0.99]
    assert convergence_time(times, values, 0.95) == 1.0
    assert convergence_time(times, values, 0.95, start=2.0) == 2.0
    assert convergence_time(times, values, 0.995) is None


def test_node_changes_ignore_missing_pages() -> None:
    samples = np.array([[0, 0, -2], [1, 0, 1], [1, 0, -2], [0, 1, 1]])
    assert node_changes(samples).tolist() == [[True, False, False], [False, False, False],
                                              [True, True, False]]


def test_ping_pong_counts_pages_moved_more_than_twice_within_the_window() -> None:
    # page 0: 0->1->0->1 in 3 s (3 changes); page 1: one move; page 2: three changes 100 s apart
    times = [0.0, 1.0, 2.0, 3.0, 100.0, 200.0]
    samples = np.array([[0, 0, 0], [1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]])
    assert ping_pong(times, samples) == 1
    assert ping_pong(times, samples, window=300.0) == 2
    assert ping_pong(times, samples, limit=3) == 0
    assert ping_pong([0.0], samples[:1]) == 0


def test_minimum_moves_counts_pages_the_oracle_puts_elsewhere() -> None:
    start = np.array([2, 2, 2, 0, -14])
    oracle = np.array([1, 2, 1, 1, 1])
    assert minimum_moves(start, oracle) == 3
    with pytest.raises(ValueError):
        minimum_moves(start, oracle[:2])
