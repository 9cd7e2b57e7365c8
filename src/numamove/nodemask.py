"""numactl's nodemask syntax, parsed and printed. Pure: no I/O (the kernel's cpulist and
nodelist files are parsed here, read elsewhere). May import: :mod:`numamove._inputs`,
:mod:`numamove.errors`.

Accepted forms, as numactl(8) documents them:

- ``0,2`` and ``0-2,4``: node ids and inclusive ranges;
- ``all``: every node in ``allowed`` (numactl: the nodes of the current cpuset);
- ``!SPEC``: every allowed node except SPEC;
- ``+SPEC``: SPEC counts positions within the allowed nodes, not node ids
  (``+0`` is the first allowed node); ``!+SPEC`` inverts that.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from numamove._inputs import ascii_int, node_ids
from numamove.errors import InputTypeError, InvalidInputError, NodemaskSyntaxError

__all__ = ["MAX_NUMNODES", "format_nodemask", "parse_cpulist", "parse_nodemask"]

MAX_NUMNODES = 1 << 10
"""The most nodes a Linux kernel can have (CONFIG_NODES_SHIFT is at most 10): the
default bound of a nodemask when the kernel's own (its possible nodes) is not given."""
MAX_IDS = 1 << 16
"""The default bound of a kernel list: past any CPU or node id (NR_CPUS is at most 8192)."""


_HUGE = 1 << 63  # past every limit: larger ids are refused as they are read


def _shown(text: str) -> str:
    """Text quoted for a message, cut short: a megabyte argument makes no error line."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


class _NotAList(Exception):
    """Text that is not in the list syntax; the argument says why."""


def _ranges(spec: str) -> list[tuple[int, int]]:
    """"0-3,8" -> [(0, 3), (8, 8)], without building anything as large as a range."""
    pairs = []
    for part in spec.split(","):
        if not part:
            raise _NotAList("an empty element")
        low, dash, high = part.partition("-")
        try:
            first = ascii_int(low, "id", limit=_HUGE)
            last = ascii_int(high, "id", limit=_HUGE) if dash else first
        except InvalidInputError as error:
            reason = "far too large" if "too large" in str(error) else "not an id or a range of ids"
            raise _NotAList(f"{_shown(part)} is {reason}") from None
        if last < first:
            raise _NotAList(f"the range {part!r} runs backwards")
        pairs.append((first, last))
    return pairs


def _expand(pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    ids: set[int] = set()
    for first, last in pairs:
        ids.update(range(first, last + 1))
    return tuple(sorted(ids))


def parse_cpulist(text: str, limit: int = MAX_IDS) -> tuple[int, ...]:
    """The kernel's list format ("0-3,8-11", as in cpulist or has_memory) -> sorted ids.

    An empty string (a node without CPUs) gives an empty tuple; a trailing
    newline is fine. Ids must be ASCII digits below ``limit``, checked before
    any range is expanded, so "0-99999999999" costs nothing.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"a list of ids must be a string, not {type(text).__name__}")
    spec = text.strip()
    if not spec:
        return ()
    try:
        pairs = _ranges(spec)
    except _NotAList as problem:
        raise NodemaskSyntaxError(f"{_shown(spec)} is not a list like 0-3,8: {problem}") from None
    highest = max(last for _, last in pairs)
    if highest >= limit:
        raise NodemaskSyntaxError(f"{_shown(spec)}: id {highest} is too large (at most {limit - 1})")
    return _expand(pairs)


def parse_nodemask(text: str, allowed: Collection[int], limit: int = MAX_NUMNODES) -> frozenset[int]:
    """Parse numactl's nodemask syntax into a set of node ids.

    ``allowed`` is the universe for ``all``, ``!`` and ``+`` (numactl uses the
    nodes of the caller's cpuset). Plain ids are returned even when they are
    not allowed, so the kernel (or the caller) can say why they fail; but an
    id at or above ``limit`` (pass the kernel's node count,
    :meth:`Kernel.node_limit`) is refused at once, as numactl refuses it.
    """
    spec = text.strip() if isinstance(text, str) else text
    if not isinstance(spec, str):
        raise InputTypeError(f"a nodemask must be a string, not {type(text).__name__}")
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
            raise NodemaskSyntaxError(f"{_shown(text.strip())}: '+' cannot be combined with 'all'")
        chosen = frozenset(universe)
    else:
        try:
            pairs = _ranges(spec)
        except _NotAList as problem:
            raise NodemaskSyntaxError(
                f"{_shown(text.strip())} is not a nodemask ({problem}): expected e.g. 0-2,4, all, !1 or +0-1"
            ) from None
        highest = max(last for _, last in pairs)
        if relative:
            if highest >= len(universe):
                raise NodemaskSyntaxError(
                    f"{_shown(text.strip())}: relative node +{highest} is past the "
                    f"{len(universe)} allowed nodes ({format_nodemask(universe)})"
                )
            chosen = frozenset(universe[i] for i in _expand(pairs))
        else:
            if highest >= limit:
                raise NodemaskSyntaxError(
                    f"{_shown(text.strip())}: node {highest} does not exist "
                    f"(the highest possible node is {limit - 1})"
                )
            chosen = frozenset(_expand(pairs))
    if invert:
        chosen = frozenset(universe) - chosen
        if not chosen:
            raise NodemaskSyntaxError(f"{_shown(text.strip())} leaves no node")
    return chosen


def format_nodemask(nodes: Iterable[int]) -> str:
    """Node ids -> the compact list form: [0, 1, 2, 4] -> "0-2,4" ("" for none)."""
    ranges: list[list[int]] = []
    for node in sorted(node_ids(nodes, "nodes", 1 << 63)):
        if ranges and ranges[-1][1] == node - 1:
            ranges[-1][1] = node
        else:
            ranges.append([node, node])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
