"""Placement policies: PURE decisions about where pages should go.

A policy is snapshot -> plan: it is given data (the units of a process, the nodes'
distances and free memory, the threads' nodes) and answers with a target node per
unit, without I/O. Today it holds the choosers (``choosers``: one node, interleave,
balance by weight or free memory, the threads' nodes, remap by source node), the
``--to`` weights syntax and the full-node fallback order (``targets``), and the Units
type they work on (``units``); and the policies by name (``base``: the registry):
snapshot -> plan (``snapshot``, ``plan``), each plan passing the shared ``rules``
(cpuset, hysteresis, room, budget): ``locality``, ``tiering``, ``balance`` and
``log`` (module ``accesslog``).

May import: numpy, numamove.errors, numamove._inputs, numamove.nodemask and its own
modules. Never numamove.kernel, the scans or numamove.move: no kernel interface at all,
so every policy is tested on plain data. numamove.move runs what a policy decides.
"""

# The policies register themselves by name on import.
from numamove.policy import accesslog, balance, locality, tiering  # noqa: F401
