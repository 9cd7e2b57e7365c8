"""`move --to` several nodes moves the least: pages already on a node of the set stay unless
that node is over its share (numamove.balance). Checked with raw move_pages(2) queries and
checksums taken by the process that owns the pages."""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner

import numamove
from numamove.cli import main

from .conftest import PAGE_SIZE, Channel, ForkedChild, Layout, Region, forked

PAGES = 4096


def hold_split(pages: int, first_node: int, first_pages: int, second_node: int, channel: Channel) -> None:
    """The child: a region whose first ``first_pages`` pages are on one node, the rest on another."""
    r = Region(pages, fill=False)
    r.buffer.madvise(mmap.MADV_NOHUGEPAGE)
    split = first_pages * PAGE_SIZE
    numamove.mbind(r.base, split, numamove.Mode.BIND, [first_node])
    numamove.mbind(r.base + split, pages * PAGE_SIZE - split, numamove.Mode.BIND, [second_node])
    r.fill()
    numamove.mbind(r.base, pages * PAGE_SIZE, numamove.Mode.DEFAULT)
    channel.send(f"{r.base} {r.digest}")
    while channel.receive() == "checksum":
        channel.send(r.checksum())


@dataclass
class Split:
    child: ForkedChild
    base: int
    digest: str

    @property
    def span(self) -> str:
        return f"{self.base:#x}-{self.base + PAGES * PAGE_SIZE:#x}"

    def where(self) -> npt.NDArray[np.int32]:
        return numamove.move_pages(self.child.pid, self.base + np.arange(PAGES, dtype=np.uint64) * PAGE_SIZE)

    def intact(self) -> bool:
        self.child.send("checksum")
        return self.child.receive() == self.digest


@contextmanager
def split_target(first_node: int, first_pages: int, second_node: int) -> Iterator[Split]:
    with forked(lambda channel: hold_split(PAGES, first_node, first_pages, second_node, channel)) as child:
        base, digest = child.receive().split()
        yield Split(child, int(base), digest)


def move_json(pid: int, *arguments: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["move", str(pid), *arguments, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_pages_spread_evenly_stay_where_they_are(layout: Layout) -> None:
    zero, one = layout.cpu_nodes
    with split_target(zero, PAGES // 2, one) as t:
        before = t.where()
        assert numamove.status_counts(before) == {zero: PAGES // 2, one: PAGES // 2}
        assert one == zero + 1, layout
        document = move_json(t.child.pid, "--to", f"{zero}-{one}", "--range", t.span)
        assert document["pages_moved"] == 0 and document["moved"] == [], document
        assert document["already_there"] == PAGES
        assert (t.where() == before).all()
        assert t.intact()


@pytest.mark.parametrize("to", ["{zero}-{one}", "{zero}:1,{one}:1", "{zero}:1e-9,{one}:1e-9",
                                "{zero}:1e308,{one}:1e308"])
def test_only_the_surplus_moves(layout: Layout, to: str) -> None:
    zero, one = layout.cpu_nodes
    quarter = PAGES // 4
    with split_target(zero, 3 * quarter, one) as t:
        before = t.where()
        assert numamove.status_counts(before) == {zero: 3 * quarter, one: quarter}
        document = move_json(t.child.pid, "--to", to.format(zero=zero, one=one), "--range", t.span)
        surplus = {"from": zero, "to": one, "pages": quarter, "bytes": quarter * PAGE_SIZE}
        assert document["moved"] == [surplus], document
        after = t.where()
        assert numamove.status_counts(after) == {zero: 2 * quarter, one: 2 * quarter}
        assert (after[before == one] == one).all()  # nothing left the node that was short
        assert t.intact()


@pytest.mark.parametrize("weights", ["nan:1", "inf:1", "1:-inf"])
def test_weights_that_are_not_finite_and_positive_move_nothing(layout: Layout, weights: str) -> None:
    zero, one = layout.cpu_nodes
    first, second = weights.split(":")
    with split_target(zero, PAGES // 2, one) as t:
        before = t.where()
        result = CliRunner().invoke(main, ["move", str(t.child.pid), "--to", f"{zero}:{first},{one}:{second}",
                                           "--range", t.span])
        assert result.exit_code == 1, result.output
        assert result.stdout == "" and result.stderr.count("\n") == 1, result.output
        assert result.stderr.startswith("numamove: error: "), result.stderr
        assert "Traceback" not in result.output
        assert (t.where() == before).all()
        assert t.intact()
