from __future__ import annotations

import errno
from pathlib import Path

import pytest

import numamove
from numamove.kernel.syscalls import nodemask_words, nodes_from_words

from .fakes import FakeSyscalls


def test_migrate_pages_with_nodemask_strings(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    fake.not_moved = 4
    assert numamove.migrate_pages(123, "0-1", "2", kernel=kernel) == 4
    assert fake.migrations == [(123, 65, frozenset({0, 1}), frozenset({2}))]


def test_migrate_pages_all_means_allowed_nodes(tmp_path: Path, fake: FakeSyscalls) -> None:
    root = tmp_path
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/status").write_text("Mems_allowed_list:\t0-1\n")
    (root / "sys/devices/system/node").mkdir(parents=True)
    (root / "sys/devices/system/node/online").write_text("0-2\n")
    numamove.migrate_pages(1, "all", [0], kernel=numamove.Kernel(root, syscalls=fake))
    assert fake.migrations[0][2] == frozenset({0, 1})


def test_migrate_pages_refuses_an_offline_target(tmp_path: Path, fake: FakeSyscalls) -> None:
    (tmp_path / "sys/devices/system/node").mkdir(parents=True)
    (tmp_path / "sys/devices/system/node/online").write_text("0-2\n")
    (tmp_path / "sys/devices/system/node/possible").write_text("0-7\n")
    kernel = numamove.Kernel(tmp_path, syscalls=fake)
    with pytest.raises(numamove.NodeOfflineError, match="node 5 is not online"):
        numamove.migrate_pages(1, [0], [5], kernel=kernel)
    with pytest.raises(numamove.InvalidInputError, match="old_nodes: node 7 is not online"):
        numamove.migrate_pages(1, "7", "1", kernel=kernel)
    with pytest.raises(numamove.InvalidInputError, match="node 8 does not exist"):
        numamove.migrate_pages(1, [0], [8], kernel=kernel)
    assert fake.migrations == []


@pytest.mark.parametrize(("old", "new", "error"), [
    ([], [1], numamove.InvalidInputError),
    ([0], "x", numamove.NodemaskSyntaxError),
    ([-1], [1], numamove.InvalidInputError),
    (None, [1], numamove.InputTypeError),
])
def test_migrate_pages_bad_node_sets(kernel: numamove.Kernel, fake: FakeSyscalls,
                                     old: object, new: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        numamove.migrate_pages(1, old, new, kernel=kernel)  # type: ignore[arg-type]
    assert fake.migrations == []


def test_migrate_pages_errors(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    fake.fail_with = errno.EPERM
    with pytest.raises(numamove.NotPermittedError, match="pid 9 belongs to another user"):
        numamove.migrate_pages(9, [0], [1], kernel=kernel)


def test_nodemask_words_for_large_node_ids() -> None:
    words, maxnode = nodemask_words([0, 63, 64, 1000])
    assert len(words) == 16 and maxnode == 16 * 64 + 1
    assert nodes_from_words(words) == {0, 63, 64, 1000}
    words, maxnode = nodemask_words([], 1024)
    assert maxnode == 1025 and not nodes_from_words(words)
    with pytest.raises(ValueError):
        nodemask_words([-1])


def test_get_mempolicy_splits_mode_and_flags(kernel: numamove.Kernel) -> None:
    policy = numamove.get_mempolicy(kernel=kernel)
    assert policy == numamove.MemPolicy(numamove.Mode.BIND, numamove.MPOL_F_STATIC_NODES, frozenset({64}))


def test_mbind_and_set_mempolicy_errors(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    fake.fail_with = errno.EINVAL
    with pytest.raises(numamove.InvalidRequestError, match="mbind: invalid arguments"):
        numamove.mbind(0x1000, 4096, numamove.Mode.BIND, [0], kernel=kernel)
    with pytest.raises(numamove.InvalidRequestError, match="set_mempolicy"):
        numamove.set_mempolicy(numamove.Mode.BIND, [0], kernel=kernel)
    with pytest.raises(numamove.InvalidInputError):
        numamove.mbind(-1, 4096, numamove.Mode.BIND, [0], kernel=kernel)
    with pytest.raises(numamove.InputTypeError):
        numamove.set_mempolicy(numamove.Mode.BIND, ["a"], kernel=kernel)  # type: ignore[list-item]
