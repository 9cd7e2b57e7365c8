"""How a node, and a page on no node, is shown: its color in pictures, its character in text.

Pure: plain data and two lookups. Imports only :mod:`numamove.errors`; touches
no kernel interface.
"""

from __future__ import annotations

from numamove.errors import InvalidInputError

__all__ = [
    "MIXED_CHAR",
    "NODE_COLORS",
    "NOT_PRESENT_COLOR",
    "SWAPPED_COLOR",
    "ZERO_PAGE_COLOR",
    "node_char",
    "node_color",
]

NODE_COLORS: tuple[str, ...] = (
    "#0072B2",  # node 0: blue (Okabe-Ito)
    "#E69F00",  # node 1: orange (Okabe-Ito)
    "#009E73",  # node 2: bluish green (Okabe-Ito)
    "#CC79A7",  # node 3: reddish purple (Okabe-Ito)
    "#56B4E9",  # node 4: sky blue (Okabe-Ito)
    "#D55E00",  # node 5: vermillion (Okabe-Ito)
    "#F0E442",  # node 6: yellow (Okabe-Ito)
    "#332288",  # node 7: indigo (Paul Tol, muted)
    "#882255",  # node 8: wine (Paul Tol, muted)
    "#999933",  # node 9: olive (Paul Tol, muted)
    "#44AA99",  # node 10: teal (Paul Tol, muted)
)
"""The color of node N is ``NODE_COLORS[N % len(NODE_COLORS)]``, the same in every picture.

The Okabe-Ito palette first (distinguishable with the common forms of color
blindness), then Paul Tol's muted colors; none is white or grey, which mark
pages that are on no node.
"""
NOT_PRESENT_COLOR = "#FFFFFF"
"""Pages not present (never touched, or evicted): blank, inside the band's frame."""
ZERO_PAGE_COLOR = "#D9D9D9"
"""Pages mapped to the shared zero page (read, never written): light grey."""
SWAPPED_COLOR = "#505050"
"""Pages swapped out: dark grey."""
_NODE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MIXED_CHAR = "~"
"""A slice of a text strip whose winning node has under 3/4 of the slice's pages on nodes."""


def node_color(node: int) -> str:
    """The color of ``node`` in pictures, as "#RRGGBB"; colors repeat after len(NODE_COLORS) nodes."""
    if node < 0:
        raise InvalidInputError(f"node ids are not negative: {node}")
    return NODE_COLORS[node % len(NODE_COLORS)]


def node_char(node: int) -> str:
    """The character for ``node`` in text strips: 0-9, then A-Z for 10-35, then "#"."""
    if node < 0:
        raise InvalidInputError(f"node ids are not negative: {node}")
    return _NODE_CHARS[node] if node < len(_NODE_CHARS) else "#"

