"""The library under the move and migrate commands: the pure target syntax and fallback order,
and the pipeline's outcome, on plain data."""

from __future__ import annotations

import subprocess
import sys

import pytest

from numamove.errors import InvalidInputError
from numamove.move.pipeline import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_SHARED_LEFT, Outcome
from numamove.move.result import INTERRUPTED, MoveResult
from numamove.policy.targets import nearest_fallback, parse_weights


def test_weights_are_parsed_from_plain_data() -> None:
    free = {0: 100, 1: 300, 2: 0}
    assert parse_weights("0:3,1", {0, 1, 2}, 3, free) == {0: 3.0, 1: 1.0}
    assert parse_weights("0-1:free", {0, 1, 2}, 3, free) == {0: 100.0, 1: 300.0}
    with pytest.raises(InvalidInputError, match=r"^targets '0:x': weight 'x' is not"):
        parse_weights("0:x", {0, 1, 2}, 3, free, name="targets")


def test_a_full_target_falls_back_to_the_nearest_other_target() -> None:
    distances = {0: {0: 10, 1: 20, 2: 17}, 1: {0: 20, 1: 10, 2: 28}, 2: {0: 17, 1: 28, 2: 10}}
    fallback = nearest_fallback(distances, [0, 1, 2])
    assert fallback(0) == [2, 1] and fallback(1) == [0, 2] and fallback(2) == [0, 1]
    assert nearest_fallback(distances, [1, 2])(0) == [2, 1]


def test_the_outcome_folds_results_into_one_status() -> None:
    outcome = Outcome()
    outcome.add_move(1, MoveResult(moved={(0, 1): 4}, statuses={1: 4}))
    assert outcome.status == EXIT_OK
    outcome.add_move(2, MoveResult(statuses={1: 2, -13: 3}, skipped_shared=3))
    assert outcome.status == EXIT_SHARED_LEFT and outcome.problems == []
    outcome.add_move(3, MoveResult(statuses={-16: 5}))
    assert outcome.status == EXIT_FAILED and outcome.problems == ["5 pages of pid 3 did not end where asked"]
    outcome.add_move(4, MoveResult(stopped=INTERRUPTED, not_tried=7))
    assert outcome.status == EXIT_INTERRUPTED


def test_policies_load_no_kernel_interface() -> None:
    code = ("import sys, numamove.policy.choosers, numamove.policy.targets; "
            "print(sorted(m for m in sys.modules if m in ('numamove.kernel', 'numamove.scan', "
            "'numamove.move')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
