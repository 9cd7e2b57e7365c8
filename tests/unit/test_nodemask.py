from __future__ import annotations

import re

import pytest

from numamove import NodemaskSyntaxError, format_nodemask, parse_cpulist, parse_nodemask

ALLOWED = (0, 1, 2, 4)


@pytest.mark.parametrize(("text", "expected"), [
    ("0", {0}),
    ("0-2,4", {0, 1, 2, 4}),
    ("4,0", {0, 4}),
    (" 1 ", {1}),
    ("7", {7}),  # not allowed, kept so the kernel or caller can say why
    ("all", {0, 1, 2, 4}),
    ("!1", {0, 2, 4}),
    ("!0-2", {4}),
    ("+0", {0}),
    ("+3", {4}),
    ("+1-2", {1, 2}),
    ("!+0", {1, 2, 4}),
])
def test_parse_nodemask(text: str, expected: set[int]) -> None:
    assert parse_nodemask(text, ALLOWED) == frozenset(expected)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty nodemask"),
    ("x", "'x' is not a nodemask"),
    ("1-", "'1-' is not a nodemask"),
    ("3-1", "'3-1' is not a nodemask"),
    ("-1", "'-1' is not a nodemask"),
    ("+4", "relative node +4 is past the 4 allowed nodes (0-2,4)"),
    ("!all", "'!all' leaves no node"),
    ("+all", "'+' cannot be combined with 'all'"),
    (",", "',' names no node"),
])
def test_bad_nodemask_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(NodemaskSyntaxError, match=re.escape(message)):
        parse_nodemask(text, ALLOWED)


def test_nodemask_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_nodemask("zero", ALLOWED)


def test_parse_cpulist() -> None:
    assert parse_cpulist("0-3,8-9\n") == (0, 1, 2, 3, 8, 9)
    assert parse_cpulist("\n") == ()
    assert parse_cpulist("5") == (5,)


@pytest.mark.parametrize(("nodes", "text"), [
    ([], ""), ([3], "3"), ([0, 1, 2, 4], "0-2,4"), ([5, 1, 0, 6], "0-1,5-6"), ([0, 2, 4], "0,2,4"),
])
def test_format_nodemask(nodes: list[int], text: str) -> None:
    assert format_nodemask(nodes) == text
    if nodes:
        assert parse_nodemask(text, ()) == frozenset(nodes)
