"""The units a placement policy decides about and the mover moves: pure data.

``Units`` is a process's movable memory as three arrays (start address, size in base
pages, current node); a ``Chooser`` maps units to one target node each. Both
numamove.policy and numamove.move use them; this module touches no kernel interface.

May import: numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Chooser", "Units"]

Chooser = Callable[["Units"], npt.NDArray[np.int32]]
"""Given the units to place, the target node of each (int32, one per unit)."""


@dataclass
class Units:
    """Movable units of a process: base pages, or whole huge pages.

    ``addresses[i]`` is the first byte of unit i, ``pages[i]`` its size in
    base pages (1, or 512 for a 2 MiB THP or hugetlb page), ``nodes[i]`` the
    node it is on now (negative when not present).
    """

    addresses: npt.NDArray[np.uint64]
    pages: npt.NDArray[np.int64]
    nodes: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.addresses)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Units:
        return Units(self.addresses[mask], self.pages[mask], self.nodes[mask])

