"""Pictures of where a process's pages live: data in, text or pixels out.

Both pictures take a :class:`~numamove.ProcessMemory` scanned with
``pages=True`` and draw one band (or line) per VMA that carries per-page data
(``Vma.pages``), in address order. Neighbouring mappings of one file fold into
one band, and so do runs of neighbouring bands smaller than ``min_size``, each
labelled with its count of VMAs, so a process of hundreds of small library
mappings still fits a screen (``min_size=0`` draws every VMA alone).

- :mod:`.bands`     folding VMAs into bands, counting a band's pages per slice
                    and category, the majority of a slice; ``parse_size``
- :mod:`.palette`   a node's color and character, the colors of pages on no node
- :mod:`.text`      :func:`render_text`: a strip of characters per band
- :mod:`.captions`  the picture's header, legend entries, band labels and note
- :mod:`.png`       :func:`render_png`: the picture, composed with numpy, lettered
                    with Pillow
- :mod:`.files`     the picture file's formats, and its atomic write

What it may import: numpy, Pillow (inside :func:`render_png`), the standard
library, :mod:`numamove.errors` and :mod:`numamove._format`, and the scan's data
model for types. It imports no ``numamove.kernel`` and touches no kernel
interface; the only file it writes is the picture the caller names
(:mod:`.files`). tests/unit/test_layout.py checks this.
"""

from __future__ import annotations

from numamove.render.bands import DEFAULT_MIN_SIZE, parse_size
from numamove.render.files import PICTURE_FORMATS, picture_format
from numamove.render.palette import (
    NODE_COLORS,
    NOT_PRESENT_COLOR,
    SWAPPED_COLOR,
    ZERO_PAGE_COLOR,
    node_char,
    node_color,
)
from numamove.render.png import render_png
from numamove.render.text import render_text

__all__ = [
    "DEFAULT_MIN_SIZE",
    "NODE_COLORS",
    "NOT_PRESENT_COLOR",
    "PICTURE_FORMATS",
    "SWAPPED_COLOR",
    "ZERO_PAGE_COLOR",
    "node_char",
    "node_color",
    "parse_size",
    "picture_format",
    "render_png",
    "render_text",
]
