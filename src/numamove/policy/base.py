"""Policies by name: the Policy protocol, the options every policy shares, and the registry.

A policy is built from its options (strings, as the command line and a config
file give them) and answers ``plan(snapshot)`` with a :class:`Plan`. It does no
I/O. Every policy's plan passes the shared rules (numamove.policy.rules): the
migration budget, hysteresis, room on the target node and the cpuset.

May import: numamove.errors, numamove._inputs and its own package.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from numamove._inputs import parse_size
from numamove._registry import NameRegistry
from numamove.errors import InvalidInputError
from numamove.policy.plan import Plan
from numamove.policy.snapshot import Snapshot

__all__ = ["COMMON_OPTIONS", "REGISTRY", "Policy", "PolicyRegistry", "Settings", "get", "names", "register"]

COMMON_OPTIONS: dict[str, str] = {
    "budget": "the most bytes one plan moves (default 1G; 4K to 1T)",
    "hold": "intervals a range that moved stays where it went (default 3; 0 to 1000)",
    "headroom": ("the share of each node's memory kept free (default 0.05; 0 to 0.95: an operator may "
                 "keep most of a fast node for other programs)"),
    "min_heat": "the least heat that counts as hot, in the profile's heat unit (default: any heat above 0)",
}


@dataclass(frozen=True)
class Settings:
    """The options every policy shares, read and checked once."""

    budget: int = 1 << 30
    hold: int = 3
    headroom: float = 0.05
    min_heat: float = 0.0

    def is_hot(self, heat: float) -> bool:
        return heat > 0 and heat >= self.min_heat


def read_settings(options: Mapping[str, str], policy: str) -> Settings:
    """The shared options among ``options`` (a policy's own are checked by the policy)."""
    budget = parse_size(options.get("budget", "1G"), f"{policy} option budget", low=4096, high=1 << 40)
    hold = _whole(options.get("hold", "3"), f"{policy} option hold", 0, 1000)
    headroom = fraction(options.get("headroom", "0.05"), f"{policy} option headroom", 0.0, 0.95)
    min_heat = number(options.get("min_heat", "0"), f"{policy} option min_heat", 0.0, 1e18)
    return Settings(budget, hold, headroom, min_heat)


def _whole(text: str, what: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise InvalidInputError(f"{what} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def number(text: str, what: str, low: float, high: float) -> float:
    """A plain decimal number (ASCII, no exponent, nan or inf) from ``low`` to ``high``."""
    if re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text) is None or not low <= float(text) <= high:
        raise InvalidInputError(f"{what} must be a number from {low:g} to {high:g}, not {text!r}")
    value = float(text)
    assert math.isfinite(value)
    return value


def fraction(text: str, what: str, low: float = 0.0, high: float = 1.0) -> float:
    """A share: "0.25" or "25%"."""
    if text.endswith("%"):
        return number(text[:-1], what, low * 100, high * 100) / 100
    return number(text, what, low, high)


class Policy(Protocol):
    """Snapshot -> plan, with no I/O. ``options`` names the policy's own options (besides
    :data:`COMMON_OPTIONS`) with a sentence each."""

    name: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[Mapping[str, str]]

    def plan(self, snapshot: Snapshot) -> Plan:
        """The moves for ``snapshot``, with a reason each; an empty plan says why in its notes."""


PolicyFactory = Callable[[Mapping[str, str]], Policy]


class PolicyRegistry(NameRegistry[type]):
    """Policy classes by name, as trackers are kept: a user's own policy registers here too."""

    kind = "policy"
    plural = "policies"

    def build(self, name: str, options: Mapping[str, str] | None = None) -> Policy:
        """The policy called ``name`` with ``options``; an unknown name or option is refused by name."""
        factory = self.get(name)
        options = dict(options or {})
        known = {**COMMON_OPTIONS, **getattr(factory, "options", {})}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InvalidInputError(f"the {name} policy has no option {unknown[0]!r}; its options: "
                                    f"{', '.join(sorted(known))}")
        policy: Policy = factory(options)
        return policy


REGISTRY = PolicyRegistry()
"""numamove's policies: each policy module registers itself when imported."""


def register(name: str, factory: type) -> None:
    REGISTRY.register(name, factory)


def get(name: str) -> type:
    return REGISTRY.get(name)


def names() -> list[str]:
    return REGISTRY.names()
