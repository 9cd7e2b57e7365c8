"""parse_duration: the one reader of "5s", "100ms" for trackers, profile and the daemon."""

import pytest

from numamove._inputs import parse_duration
from numamove.errors import InputTypeError, InvalidInputError


@pytest.mark.parametrize(("text", "seconds"), [
    ("5", 5.0), ("2.5s", 2.5), ("100ms", 0.1), ("500us", 0.0005), ("10m", 600.0),
    ("1h", 3600.0), (" 3s ", 3.0),
])
def test_reads_the_units(text: str, seconds: float) -> None:
    assert parse_duration(text, "--interval") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1s", "1e3", "nan", "inf", "5 s", "5sec", "\u0661s", "0x10"])
def test_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--interval must be a duration like 5s"):
        parse_duration(text, "--interval")


def test_bounds_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"--interval must be from 1ms to 1h, not '2h'"):
        parse_duration("2h", "--interval", low=0.001, high=3600)
    with pytest.raises(InvalidInputError, match=r"--duration must be at least 1s, not '0'"):
        parse_duration("0", "--duration", low=1)


def test_refuses_a_non_string() -> None:
    with pytest.raises(InputTypeError):
        parse_duration(5, "--interval")  # type: ignore[arg-type]
