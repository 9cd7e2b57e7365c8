"""Factories by name: what the tracker and the policy registries share. Pure: no I/O.

A name is a lowercase letter, then letters, digits, '-' and '_', and is registered once;
an unknown name is refused listing the known ones. May import: numamove.errors.
"""

from __future__ import annotations

import re
from typing import ClassVar, Generic, TypeVar

from numamove.errors import InvalidInputError

__all__ = ["NameRegistry"]

Factory = TypeVar("Factory")


class NameRegistry(Generic[Factory]):
    """Factories by name; ``kind`` ("tracker", "policy") names them in errors."""

    kind: ClassVar[str] = "entry"
    plural: ClassVar[str] = "entries"

    def __init__(self) -> None:
        self._factories: dict[str, Factory] = {}

    def register(self, name: str, factory: Factory) -> None:
        """Make ``factory`` the one called ``name``; a name is registered once."""
        if re.fullmatch(r"[a-z][a-z0-9_-]*", name) is None:
            raise InvalidInputError(f"a {self.kind}'s name is a lowercase letter, then letters, digits, '-' "
                                    f"and '_': not {name!r}")
        if name in self._factories:
            raise InvalidInputError(f"a {self.kind} named {name!r} is already registered")
        self._factories[name] = factory

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def get(self, name: str) -> Factory:
        """The factory called ``name``; InvalidInputError naming the known ones if none."""
        factory = self._factories.get(name)
        if factory is None:
            known = ", ".join(self.names()) or "none is registered"
            raise InvalidInputError(f"no {self.kind} is called {name!r}; the {self.plural}: {known}")
        return factory
