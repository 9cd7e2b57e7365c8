"""Moving pages: the only caller of the migration syscalls.

- ``pages``: move_pages(2) and migrate_pages(2) wrappers (numpy arrays in, statuses out).
- ``mempolicy``: mbind(2), set_mempolicy(2), get_mempolicy(2).
- ``engine``: the budgeted, paced, stoppable mover (``move_units``) and its dry run
  (``preview``); ``result``: what a move did (``MoveResult``).
- ``from_scan``: a per-page scan -> the movable units (huge pages whole).
- ``pipeline``: check -> choose -> move for one process (``check_move``,
  ``move_process``, ``migrate_process``) and the exit status of a run, shared by the
  CLI, ``apply`` and the daemon. Nothing here prints or exits: warnings go to a callback.

May import: numpy, ctypes, numamove.kernel, the scans (numamove.scan),
numamove.model, numamove.topology, numamove.policy. Never numamove.cli.
"""
