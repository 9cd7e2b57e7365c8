"""Profiles: trackers run over intervals, written to a JSON Lines log, and read back.

- :mod:`.recorder`: :func:`~numamove.profile.recorder.record`, the loop that
  starts the trackers, samples them each interval, adds each region's placement
  and the process's resident pages per node, and writes the log; also the
  header it begins with. The command line and the daemon both call it.
- :mod:`.log`: the records and their JSON, the writer (merging, size cap,
  rotation) and the reader (parts oldest first, bad lines as data).
- :mod:`.report`: :func:`~numamove.profile.report.analyze`, pure: a log's records in,
  hot and cold regions ranked, working set, residency and remote shares out
  (:mod:`.checks`, :mod:`.segments` and :mod:`.regions` are its parts).

May import: numpy, :mod:`numamove.kernel`, :mod:`numamove.scan`, :mod:`numamove.topology`,
:mod:`numamove.trackers`, :mod:`numamove.procfs`; never cli/. Only log.py does file I/O,
on the user's own log files; the recorder touches the kernel only through a Kernel.
"""

from __future__ import annotations
