"""Target nodes as people write them, and where pages go when a target is full. Pure.

``parse_weights`` reads the target syntax of ``numamove move --to`` (and of any
configuration that names targets the same way): "2", "0-1", "0:3,1:1" (node:weight),
"0-2:free" (by free memory), given the nodes it may name and their free memory.
``nearest_fallback`` orders, for a full target, the other targets nearest first by SLIT
distance. Both are functions of data the caller read (numamove.topology, numamove.kernel);
this module touches no kernel interface.

May import: numamove.errors, numamove.nodemask (no numpy, no kernel).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping

from numamove.errors import InvalidInputError
from numamove.nodemask import parse_nodemask

__all__ = ["nearest_fallback", "parse_weights"]

# A plain decimal number: float() alone would also take "nan", "inf", "1_0" and other scripts' digits.
_WEIGHT = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)


def parse_weights(text: str, allowed: Collection[int], limit: int, free: Mapping[int, int], *,
                  name: str = "--to") -> dict[int, float]:
    """``text`` ("2", "0-1", "0:3,1:1", "0-2:free") -> {node: weight}.

    ``allowed`` and ``limit`` are what a nodemask may name (the online nodes, and the
    kernel's possible nodes: numamove.nodemask.parse_nodemask); ``free`` is each node's
    free memory in bytes, for ":free". ``name`` is the option the error text names.
    """
    weights: dict[int, float] = {}
    for entry in text.split(","):
        spec, colon, weight_text = entry.partition(":")
        nodes = parse_nodemask(spec, allowed, limit)
        if weight_text == "free":
            weights.update({node: float(free.get(node, 0)) for node in nodes})
            continue
        weight = _weight(text, weight_text, name) if colon else 1.0
        weights.update(dict.fromkeys(nodes, weight))
    return weights


def _weight(text: str, weight_text: str, name: str) -> float:
    """One weight: a finite, positive decimal number."""
    weight = float(weight_text) if _WEIGHT.fullmatch(weight_text) else math.nan
    if not math.isfinite(weight) or weight <= 0:
        raise InvalidInputError(f"{name} {text[:60]!r}: weight {weight_text[:30]!r} is not a finite positive "
                                "number (like 3 or 0.5) nor 'free'")
    return weight


def nearest_fallback(distances: Mapping[int, Mapping[int, int]],
                     targets: Iterable[int]) -> Callable[[int], list[int]]:
    """For a full target: the other targets, nearest first by SLIT distance.

    ``distances[a][b]`` is the distance from node a to node b (Node.distances); an
    unknown distance counts as 255, the farthest.
    """
    choices = sorted(set(targets))
    return lambda node: sorted((n for n in choices if n != node), key=lambda n: distances[node].get(n, 255))
