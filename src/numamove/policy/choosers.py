"""The choosers: given a process's units, the target node of each. Pure functions of data.

A chooser plays the part of the kernel's migrate_pages() allocator callback
(new_page_t): :mod:`numamove.move` asks it where each unit goes, then moves them.
Here: every unit to one node, interleave by weight, balance to weights with the least
movement, the nodes where the threads run, by source node, and migrate_pages(2)'s
remapping of node sets. Touches no kernel interface.

May import: numpy, numamove.errors, numamove._inputs, numamove.nodemask, numamove.policy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from numamove._inputs import check_int, node_ids
from numamove.errors import InputTypeError, InvalidInputError
from numamove.nodemask import MAX_NUMNODES
from numamove.policy.units import Chooser, Units

if TYPE_CHECKING:
    from numamove.model import ProcessMemory

__all__ = ["balance", "by_source", "interleave", "one_node", "remap_nodes", "thread_nodes", "weights_chooser"]


def one_node(node: int) -> Chooser:
    """Every unit to ``node``."""
    node = check_int(node, "node", low=0, high=MAX_NUMNODES - 1)
    return lambda units: np.full(len(units), node, dtype=np.int32)


def interleave(weights: Mapping[int, float]) -> Chooser:
    """Deal units over nodes in proportion to ``weights`` ({node: weight}), by base pages.

    It deals in address order, ignoring where pages are: a unit already on a
    node of the set may still be sent to another (:func:`balance` keeps them).
    The weights become a short cycle (3:1 is node 0, 0, 1, 0), and units are
    dealt along it in address order, a huge unit taking as many turns as it
    has base pages; so the running share of each node stays within a cycle of
    its weight anywhere in the range, not only in the total. Weights must be
    finite and positive; only their ratios matter (1e-9:1e-9 is 1:1).
    """
    nodes, shares = _shares(weights)
    turns = _cycle(shares)
    used = turns > 0
    nodes, turns = nodes[used], turns[used]
    # Each node's turns spread evenly over the cycle (3:1 gives 0, 0, 1, 0), so even a
    # range shorter than the cycle gets every node in its share.
    labels = np.repeat(nodes, turns)
    positions = np.concatenate([(np.arange(t) + 0.5) / t for t in turns])
    pattern = labels[np.argsort(positions, kind="stable")]

    def choose(units: Units) -> npt.NDArray[np.int32]:
        if len(units) == 0:
            return np.empty(0, dtype=np.int32)
        # Each unit's middle base page, counted in units of the smallest one, picks its turn.
        step = max(int(units.pages.min()), 1)
        ends = np.cumsum(units.pages) // step
        middles = ends - (units.pages // step + 1) // 2
        chosen: npt.NDArray[np.int32] = pattern[middles % len(pattern)]
        return chosen

    return choose


def _shares(weights: Mapping[int, float]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """Validated weights: the nodes in order, and their shares, which sum to 1.

    Each weight is divided by the largest before the sum is taken, so neither
    1e308 + 1e308 overflows nor 1e-9 vanishes.
    """
    if not isinstance(weights, Mapping):
        raise InputTypeError(f"weights must be a mapping of node to weight, not {type(weights).__name__}")
    if not weights:
        raise InvalidInputError("weights name no node: give at least one {node: weight}")
    values: list[float] = []
    for node in sorted(weights):
        check_int(node, "a node of weights", low=0, high=MAX_NUMNODES - 1)
        weight = weights[node]
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise InputTypeError(f"the weight of node {node} must be a number, not {type(weight).__name__}")
        if not math.isfinite(weight) or weight <= 0:
            raise InvalidInputError(f"the weight of node {node} must be finite and positive, not {weight}")
        values.append(float(weight))
    relative = np.array(values) / max(values)
    return np.array(sorted(weights), dtype=np.int32), relative / relative.sum()


def _cycle(shares: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Whole turns per node in proportion to ``shares`` (which sum to 1), in a cycle of at most
    about 1000 turns: exact for small whole-number ratios such as 3:1 or 1:1:1."""
    # The shortest cycle that holds the ratios exactly, all lengths tried at once.
    lengths = np.arange(1, 1001, dtype=np.float64)[:, None]
    turns = lengths * shares
    whole = np.round(turns)
    exact = (whole >= 1).all(axis=1) & (np.abs(turns - whole) <= 1e-6 * lengths).all(axis=1)
    if exact.any():
        found: npt.NDArray[np.int64] = whole[int(np.argmax(exact))].astype(np.int64)
        return found
    scaled: npt.NDArray[np.int64] = np.round(shares * 1000).astype(np.int64)
    scaled[np.argmax(shares)] = max(int(scaled.max()), 1)
    return scaled // int(np.gcd.reduce(scaled[scaled > 0]))


def balance(weights: Mapping[int, float]) -> Chooser:
    """Bring units to the shares ``weights`` names ({node: weight}) with the least movement.

    Counted in base pages (a huge unit counts its pages). A unit already on a
    node of the set stays unless that node holds more than its share; only each
    node's surplus moves (its units in address order), with every unit on a
    node outside the set, to the nodes short of their share, in proportion to
    what each lacks, dealt along the address range as :func:`interleave` deals.
    A page never moves from one node of the set to another that is over its
    share, and a set already in its shares moves nothing. Units not present
    stay as they are. Weights must be finite and positive.
    """
    nodes, shares = _shares(weights)

    def choose(units: Units) -> npt.NDArray[np.int32]:
        targets = units.nodes.astype(np.int32, copy=True)
        present = units.nodes >= 0
        total = int(units.pages[present].sum())
        if total == 0:
            return targets
        moving = present & ~np.isin(units.nodes, nodes)
        lacking: dict[int, float] = {}
        for node, share in zip(nodes.tolist(), shares.tolist(), strict=True):
            quota = total * share
            here = np.flatnonzero(units.nodes == node)
            pages = units.pages[here]
            held = int(pages.sum())
            # A node within a page of its share keeps everything: rounding moves nothing.
            surplus = held - math.ceil(quota - 1e-9 * quota)
            if surplus > 0:
                before = np.cumsum(pages) - pages
                # A unit goes when its middle lies within the surplus, so huge units round
                # to the nearer whole (a tie stays: less movement).
                moving[here[2 * before + pages < 2 * surplus]] = True
            elif quota > held:
                lacking[node] = quota - held
        if moving.any() and lacking:
            targets[moving] = interleave(lacking)(units.subset(moving))
        return targets

    return choose


def thread_nodes(memory: ProcessMemory) -> Chooser:
    """The nodes where the process's threads last ran, shared by how many threads ran on each.

    Pages already on those nodes stay unless a node holds more than its share (:func:`balance`).
    """
    counts: dict[int, float] = {}
    for thread in memory.threads:
        if thread.node is not None:
            counts[thread.node] = counts.get(thread.node, 0) + 1
    if not counts:
        raise InvalidInputError(f"pid {memory.pid} has no thread with a known node")
    return one_node(next(iter(counts))) if len(counts) == 1 else balance(counts)


def by_source(mapping: Mapping[int, int]) -> Chooser:
    """Each unit to ``mapping[its current node]``; units on other nodes stay where they are."""
    if not isinstance(mapping, Mapping):
        raise InputTypeError(f"mapping must map node to node, not {type(mapping).__name__}")
    for source, target in mapping.items():
        check_int(source, "a source node of mapping", low=0, high=MAX_NUMNODES - 1)
        check_int(target, f"the target of node {source} in mapping", low=0, high=MAX_NUMNODES - 1)

    def choose(units: Units) -> npt.NDArray[np.int32]:
        targets = units.nodes.copy()
        for source, target in mapping.items():
            targets[units.nodes == source] = target
        return targets

    return choose


def remap_nodes(old: Sequence[int], new: Sequence[int]) -> dict[int, int]:
    """migrate_pages(2)'s mapping: the n-th old node goes to the (n mod len(new))-th new node.

    Nodes in both sets stay where they are, as the kernel's do_migrate_pages() keeps them.
    """
    old_sorted = sorted(node_ids(old, "old", MAX_NUMNODES))
    new_sorted = sorted(node_ids(new, "new", MAX_NUMNODES))
    if not old_sorted or not new_sorted:
        raise InvalidInputError("both node sets need at least one node")
    return {node: (node if node in new_sorted else new_sorted[index % len(new_sorted)])
            for index, node in enumerate(old_sorted)}



def weights_chooser(weights: Mapping[int, float]) -> Chooser:
    """The chooser of a ``--to`` target: :func:`one_node` for one node, else :func:`balance`."""
    return one_node(next(iter(weights))) if len(weights) == 1 else balance(weights)
