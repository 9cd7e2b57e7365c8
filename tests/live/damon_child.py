"""A numamove process running the DAMON tracker through the library, for the live tests to kill.

    python damon_child.py PID[,PID...] [AGGREGATION]

Prints one JSON line once the tracker has started ({"started": true, "warnings": [...]}),
samples until stopped, then prints how it ended: "terminated" (SIGTERM, exit 143),
"interrupted" (SIGINT, exit 130) or "target exited" (exit 0).
"""

from __future__ import annotations

import json
import sys

from numamove.errors import NoSuchProcessError
from numamove.kernel import Kernel
from numamove.signals import Terminated, raising
from numamove.trackers import get, tracking


def main() -> int:
    pids = [int(pid) for pid in sys.argv[1].split(",")]
    aggregation = sys.argv[2] if len(sys.argv) > 2 else "50ms"
    tracker = get("damon")(Kernel(), pids, {"aggregation": aggregation})
    with raising():
        try:
            with tracking(tracker):
                print(json.dumps({"started": True, "warnings": getattr(tracker, "warnings", [])}), flush=True)
                while True:
                    list(tracker.sample())
        except Terminated:
            print("terminated", flush=True)
            return 143
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            return 130
        except NoSuchProcessError:
            print("target exited", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main())
