"""Live tests that need automatic NUMA balancing ON, in a VM booted for them alone.

Switching /proc/sys/kernel/numa_balancing flips a static key, and patching it
while the other vCPU runs can oops the TCG guest, so these tests never write
it: the boot sets it (``--append numa_balancing=enable``), and a boot without
it fails the run here instead of skipping. Run as::

    PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 .venv/bin/python vmtest/run.py --append numa_balancing=enable -- \\
        "$PWD/.venv/bin/python" -m pytest -q -p no:cacheprovider tests/live_balancing
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator

import pytest

DEBUGFS = "/sys/kernel/debug"
KNOBS = f"{DEBUGFS}/sched/numa_balancing"
FAST_SCAN = {"scan_delay_ms": "100", "scan_period_min_ms": "100", "scan_period_max_ms": "1000"}
"""A scanner that passes over a small process every second or so: the task's fault counts are folded
in once per pass, and under the default periods (up to a minute) a test would wait that long."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("NUMAMOVE_IN_VM") != "1":
        raise pytest.UsageError("tests/live_balancing runs inside the test VM: python3 vmtest/run.py "
                                "--append numa_balancing=enable -- ...")
    with open("/proc/sys/kernel/numa_balancing") as switch:
        mode = switch.read().strip()
    if mode == "0":
        raise pytest.UsageError("tests/live_balancing needs NUMA balancing on from boot: "
                                "vmtest/run.py --append numa_balancing=enable")
    print(f"\nguest: Linux {os.uname().release}, numa_balancing={mode}")


@pytest.fixture(scope="session")
def fast_scanner() -> Iterator[None]:
    """NUMA balancing's scan periods shortened (debugfs; plain variables, no static key), restored after."""
    libc = ctypes.CDLL(None, use_errno=True)
    mounted = False
    if not os.path.isdir(KNOBS):
        assert libc.mount(b"debugfs", DEBUGFS.encode(), b"debugfs", 0, None) == 0, \
            os.strerror(ctypes.get_errno())
        mounted = True
    saved = {}
    try:
        for name, value in FAST_SCAN.items():
            with open(f"{KNOBS}/{name}") as knob:
                saved[name] = knob.read().strip()
            with open(f"{KNOBS}/{name}", "w") as knob:
                knob.write(value)
        yield
    finally:
        for name, value in saved.items():
            with open(f"{KNOBS}/{name}", "w") as knob:
                knob.write(value)
        if mounted:
            libc.umount2(DEBUGFS.encode(), 0)
