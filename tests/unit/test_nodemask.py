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
    (",", "',' is not a nodemask (an empty element)"),
    ("0,,1", "'0,,1' is not a nodemask (an empty element)"),
    ("0,1,", "'0,1,' is not a nodemask (an empty element)"),
    ("\u0660", "'\u0660' is not a nodemask"),
    ("\u0661\u0662\u0663", "'\u0661\u0662\u0663' is not a nodemask"),
    ("0-\u0661", "'0-\u0661' is not a nodemask"),
    ("1_0", "'1_0' is not a nodemask"),
    ("0-99999999999", "node 99999999999 does not exist"),
    ("1024", "node 1024 does not exist"),
    ("!0-99999999999", "node 99999999999 does not exist"),
    ("+0-99999999999", "relative node +99999999999 is past the 4 allowed nodes"),
    ("9" * 5000, "99999...' is not a nodemask ('99999"),
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


def test_a_nodemask_is_bounded_by_the_node_count_before_anything_is_built() -> None:
    assert parse_nodemask("0-2", ALLOWED, limit=3) == {0, 1, 2}
    with pytest.raises(NodemaskSyntaxError, match=re.escape("'3': node 3 does not exist")):
        parse_nodemask("3", ALLOWED, limit=3)
    # Refused at once: a set of 10**11 ids would take tens of gigabytes.
    with pytest.raises(NodemaskSyntaxError, match="node 99999999999 does not exist"):
        parse_nodemask("0-99999999999", ALLOWED, limit=3)


def test_a_kernel_list_is_bounded_too() -> None:
    assert parse_cpulist("0-3,8", limit=9) == (0, 1, 2, 3, 8)
    with pytest.raises(NodemaskSyntaxError, match="id 99999999999 is too large"):
        parse_cpulist("0-99999999999")
    with pytest.raises(NodemaskSyntaxError, match="id 9 is too large"):
        parse_cpulist("0-9", limit=9)


@pytest.mark.parametrize("text", ["0,,1", ",", "\u0660", "0-\u0661", " 1 2"])
def test_a_kernel_list_refuses_empty_elements_and_non_ascii_digits(text: str) -> None:
    with pytest.raises(NodemaskSyntaxError):
        parse_cpulist(text)
