"""Moved to :mod:`numamove.kernel.syscalls`; kept for modules not yet updated."""
# moved: see numamove.kernel.syscalls (remove once pages.py, mempolicy.py, mover.py and cli.py import it)

from numamove.kernel.syscalls import (
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    CallFacts,
    nodemask_words,
    nodes_from_words,
    translate,
)

__all__ = ["MPOL_MF_MOVE", "MPOL_MF_MOVE_ALL", "MPOL_MF_STRICT", "CallFacts", "nodemask_words",
           "nodes_from_words", "translate"]
