"""numactl's nodemask syntax, parsed and printed. Pure: no I/O.

Accepted forms, as numactl(8) documents them:

- ``0,2`` and ``0-2,4``: node ids and inclusive ranges;
- ``all``: every node in ``allowed`` (numactl: the nodes of the current cpuset);
- ``!SPEC``: every allowed node except SPEC;
- ``+SPEC``: SPEC counts positions within the allowed nodes, not node ids
  (``+0`` is the first allowed node); ``!+SPEC`` inverts that.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from numamove.errors import NodemaskSyntaxError

__all__ = ["format_nodemask", "parse_cpulist", "parse_nodemask"]


def parse_cpulist(text: str) -> tuple[int, ...]:
    """The kernel's list format ("0-3,8-11", as in cpulist or has_memory) -> sorted ids.

    An empty string (a node without CPUs) gives an empty tuple.
    """
    ids: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise NodemaskSyntaxError(f"{text.strip()!r} is not a list like 0-3,8") from None
        if first < 0 or last < first:
            raise NodemaskSyntaxError(f"bad range {part!r} in {text.strip()!r}")
        ids.update(range(first, last + 1))
    return tuple(sorted(ids))


def parse_nodemask(text: str, allowed: Collection[int]) -> frozenset[int]:
    """Parse numactl's nodemask syntax into a set of node ids.

    ``allowed`` is the universe for ``all``, ``!`` and ``+`` (numactl uses the
    nodes of the caller's cpuset). Plain ids are returned even when they are
    not allowed, so the kernel (or the caller) can say why they fail.
    """
    spec = text.strip()
    if not spec:
        raise NodemaskSyntaxError("empty nodemask: expected e.g. 0-2,4, all or !1")
    invert = spec.startswith("!")
    if invert:
        spec = spec[1:]
    relative = spec.startswith("+")
    if relative:
        spec = spec[1:]
    universe = sorted(set(allowed))
    if spec == "all":
        if relative:
            raise NodemaskSyntaxError(f"{text.strip()!r}: '+' cannot be combined with 'all'")
        chosen = frozenset(universe)
    else:
        try:
            ids = parse_cpulist(spec)
        except NodemaskSyntaxError:
            raise NodemaskSyntaxError(
                f"{text.strip()!r} is not a nodemask: expected e.g. 0-2,4, all, !1 or +0-1"
            ) from None
        if not ids:
            raise NodemaskSyntaxError(f"{text.strip()!r} names no node")
        if relative:
            beyond = [i for i in ids if i >= len(universe)]
            if beyond:
                raise NodemaskSyntaxError(
                    f"{text.strip()!r}: relative node +{beyond[0]} is past the "
                    f"{len(universe)} allowed nodes ({format_nodemask(universe)})"
                )
            chosen = frozenset(universe[i] for i in ids)
        else:
            chosen = frozenset(ids)
    if invert:
        chosen = frozenset(universe) - chosen
        if not chosen:
            raise NodemaskSyntaxError(f"{text.strip()!r} leaves no node")
    return chosen


def format_nodemask(nodes: Iterable[int]) -> str:
    """Node ids -> the compact list form: [0, 1, 2, 4] -> "0-2,4" ("" for none)."""
    ranges: list[list[int]] = []
    for node in sorted(set(nodes)):
        if ranges and ranges[-1][1] == node - 1:
            ranges[-1][1] = node
        else:
            ranges.append([node, node])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
