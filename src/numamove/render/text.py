"""The text picture: one line per band, its pages as a strip of characters, then a legend.

A character shows the majority of its slice of pages: the category with the
most pages wins, ties going to a node (the lowest id), then swapped, then zero
page, then not present; the zero page wins only a slice it fills more than
half of; a node that wins with less than 3/4 of the slice's pages on nodes
shows as "~" (several nodes).

Pure: data in, lines of text out. Imports numpy, the band counting
(:mod:`numamove.render.bands`), the palette and :mod:`numamove._format`;
touches no kernel interface and no file.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np

from numamove._format import human_bytes
from numamove.render.bands import DEFAULT_MIN_SIZE, fold_bands, highest_node, majority, slice_table
from numamove.render.palette import MIXED_CHAR, node_char

if TYPE_CHECKING:
    from numamove.model import ProcessMemory

__all__ = ["render_text"]


def render_text(memory: ProcessMemory, width: int = 80, *, min_size: int = DEFAULT_MIN_SIZE) -> list[str]:
    """One line per band, then a legend, each at most ``width`` characters (20 or more).

    A line is the band's first address in hex (never shortened), its kind (or
    "N VMAs" for neighbouring mappings of one file, or a run of neighbours
    under ``min_size`` bytes, folded; 0 folds nothing),
    its size, then a strip: a character per page when the band fits, else per
    slice of pages (its majority): the node's :func:`~numamove.render.palette.node_char`, "~" several
    nodes, "." not present, "z" zero page, "s" swapped. Below about 40
    characters the strip goes on a line of its own. Plain text; color it with
    :func:`~numamove.render.palette.node_color` if wanted.
    """
    bands = fold_bands(memory, min_size)
    if not bands:
        return ["(no VMA has per-page data)"]
    width = max(width, 20)
    max_node = highest_node(bands)
    chars = np.array([node_char(n) for n in range(max_node + 1)] + ["s", "z", ".", MIXED_CHAR])
    columns = [(f"{band.low:012x}", band.kind_text(), human_bytes(band.size)) for band in bands]
    kind_width = max(len(kind) for _address, kind, _size in columns)
    size_width = max(len(size) for _address, _kind, size in columns)
    lines = []
    seen: set[int] = set()
    for band, (address, kind, size) in zip(bands, columns, strict=True):
        label = f"{address} {kind:<{kind_width}} {size:>{size_width}} "
        own_line = width - len(label) < 6  # a narrow terminal: the strip gets a line of its own
        strip_width = width - 2 if own_line else width - len(label)
        nodes, swapped = band.pages()
        table = slice_table(nodes, swapped, min(len(nodes), strip_width), max_node)
        seen.update(n for n in range(max_node + 1) if table[:, n].any())
        strip = "".join(chars[majority(table, max_node)].tolist())
        lines.extend([label.rstrip(), "  " + strip] if own_line else [label + strip])
    legend = [*(f"{node_char(n)} node {n}" for n in sorted(seen)),
              f"{MIXED_CHAR} several nodes (none has 3/4)", ". not present", "z zero page", "s swapped"]
    if any(len(band.vmas) > 1 for band in bands):
        legend.append(f"N VMAs: one file's mappings, or neighbours under {human_bytes(min_size)}, folded")
    legend.append("(a wide band: a character is a slice's majority)")
    lines.extend(textwrap.wrap("  ".join(legend), width, break_on_hyphens=False))
    return lines
