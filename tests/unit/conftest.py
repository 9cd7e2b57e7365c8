from __future__ import annotations

from pathlib import Path

import pytest

import numamove

from .fakes import FakeSyscalls

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def fake() -> FakeSyscalls:
    return FakeSyscalls()


@pytest.fixture
def kernel(fake: FakeSyscalls) -> numamove.Kernel:
    """The captured sysfs of the test VM's guest (nodes 0-1 with CPUs, node 2 memory only)."""
    return numamove.Kernel(FIXTURES / "qemu-3node-hmat", syscalls=fake)
