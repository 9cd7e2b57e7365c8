"""Checks of a profile log's records, and region records as numpy columns, for :mod:`.report`.

A record that is not as README.md's "Profile logs" says (a start above its
end, a negative or overflowing heat, a node id that is not one) raises ValueError naming what
is wrong; :func:`columns` turns a batch of region records into numpy arrays
with a few checks per column, and raises :class:`Irregular` when one record
fails them, so that only such a batch is checked record by record.

Pure: imports numpy; no I/O, no kernel interface.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_NODE", "Columns", "Irregular", "address", "check_region", "columns", "integer", "node_map",
           "number", "vmas_of"]

MAX_NODE = 4095
_MAX_ADDRESS = 1 << 63
MAX_HEAT = 1e15
"""Above any tracker's heat per page; heat x bytes x intervals stays far from float64's overflow."""
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class Irregular(Exception):
    """A batch of region records holds one that the column checks refuse: check them one by one."""


Columns = tuple[Ints, Ints, Ints, npt.NDArray[np.float64], npt.NDArray[np.int8], npt.NDArray[np.float64],
                 npt.NDArray[np.float64], npt.NDArray[np.bool_]]


def columns(records: Sequence[Mapping[str, Any]]) -> Columns | None:
    """Region records as numpy columns: start, end, interval, heat, written (-1 unknown), pages per node,
    accessing share per node, whether accessing nodes are known. None for no record; Irregular when a
    record is not as the format says (the caller then checks them one by one)."""
    if not records:
        return None
    starts = [r.get("start") for r in records]
    ends = [r.get("end") for r in records]
    index = [r.get("interval") for r in records]
    heats = [r.get("heat") for r in records]
    written = [r.get("written") for r in records]
    nodes = [r.get("nodes") or {} for r in records]
    accessing = [r.get("accessing_nodes") or {} for r in records]
    if not ({*map(type, starts), *map(type, ends), *map(type, index)} <= {int}
            and set(map(type, heats)) <= {int, float} and set(map(type, written)) <= {type(None), bool}
            and {*map(type, nodes), *map(type, accessing)} <= {dict}):
        raise Irregular
    try:
        low, high = np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)
        at = np.array(index, dtype=np.int64)
    except OverflowError:
        raise Irregular from None
    heat = np.array(heats, dtype=np.float64)
    if not ((low >= 0).all() and (low < high).all() and (at >= 0).all() and (heat >= 0).all()
            and (heat <= MAX_HEAT).all()):
        raise Irregular
    pages = _node_columns(nodes, whole=True)
    access = _node_columns(accessing, whole=False)
    width = max(pages.shape[1], access.shape[1])
    pages = np.pad(pages, ((0, 0), (0, width - pages.shape[1])))
    access = np.pad(access, ((0, 0), (0, width - access.shape[1])))
    flags = np.array([-1 if w is None else w for w in written], dtype=np.int8)
    return low, high, at, heat, flags, pages, access, np.array(list(map(bool, accessing)), dtype=bool)


def _node_columns(maps: list[dict[str, Any]], *, whole: bool) -> npt.NDArray[np.float64]:
    """{"0": 3, "2": 1} per record -> a row per record, a column per node id; Irregular if a key or value
    is not as the format says."""
    ids = list(map(_NODE_IDS.get, (key for found in maps for key in found)))
    values = [value for found in maps for value in found.values()]
    if None in ids or not set(map(type, values)) <= ({int} if whole else {int, float}):
        raise Irregular
    amounts = np.array(values, dtype=np.float64)
    if not ((amounts >= 0).all() and (whole or (amounts <= 1).all())):
        raise Irregular
    rows = np.repeat(np.arange(len(maps)), list(map(len, maps)))
    columns = np.array(ids, dtype=np.int64)
    table = np.zeros((len(maps), int(columns.max(initial=-1)) + 1))
    np.add.at(table, (rows, columns), amounts)
    return table


def check_region(record: Mapping[str, Any]) -> None:
    """Raise ValueError naming what is wrong with a region record's start, end, heat, written or interval."""
    start, end = address(record, "start"), address(record, "end")
    if start >= end:
        raise ValueError(f"start {start:#x} is not below end {end:#x}")
    heat = number(record.get("heat"))
    if heat is None or not 0 <= heat <= MAX_HEAT:
        raise ValueError(f"heat is a number from 0 to {MAX_HEAT:g}, not {record.get('heat')!r}")
    written = record.get("written")
    if written is not None and not isinstance(written, bool):
        raise ValueError(f"written is true, false or null, not {written!r}")
    integer(record, "interval")
    node_map(record.get("nodes") or {}, "nodes", whole=True)
    accessing = record.get("accessing_nodes")
    if accessing is not None:
        node_map(accessing, "accessing_nodes", whole=False)


_NODE_IDS = {str(node): node for node in range(MAX_NODE + 1)}


def integer(record: Mapping[str, Any], key: str) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
        raise ValueError(f"{key} is a whole number from 0 to 2^63 - 1, not {value!r}")
    return value


def address(record: Mapping[str, Any], key: str) -> int:
    value = integer(record, key)
    if value >= _MAX_ADDRESS:
        raise ValueError(f"{key} {value:#x} is not a user address")
    return value


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def node_map(value: Any, key: str, *, whole: bool) -> dict[int, Any]:
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


def vmas_of(value: Any) -> list[tuple[int, int, str]]:
    if not isinstance(value, list):
        raise ValueError(f"vmas is a list of [start, end, name], not {value!r}")
    found = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3):
            raise ValueError(f"a VMA is [start, end, name], not {item!r}")
        start, end = address({"start": item[0]}, "start"), address({"end": item[1]}, "end")
        if start >= end:
            raise ValueError(f"a VMA's start {start:#x} is not below its end {end:#x}")
        found.append((start, end, str(item[2])))
    return found
