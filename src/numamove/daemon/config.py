"""The daemon's configuration: a TOML file, checked against a schema (pydantic) before anything runs.

An error names the file, the key (``selection[1].interval``) or the line (a TOML
syntax error), and what was expected, in one line. Durations and sizes are
written as the command line takes them ("5s", "500ms", "256M"); they are
checked with the same rules. Policy names and options, and tracker names and
options, are checked against the registries too, so a config that loads can run.

Example::

    [daemon]
    log = "auto"                 # auto (JSON when not on a terminal), json or text

    [metrics]
    address = "127.0.0.1"
    port = 9464

    [[selection]]
    name = "postgres"
    comm = "^postgres$"          # and/or: pids, cmdline, cgroup, min_rss
    tracker = "damon,threads"
    fallback = "softdirty,threads"   # when the tracker cannot run here; "" refuses at start
    policy = "locality"
    policy_options = { hold = "3" }
    interval = "30s"             # a cycle: profile, plan, apply
    profile = "10s"              # how much of each cycle profiles
    budget = "256M"              # bytes moved per cycle at most
    rate = 100                   # MB/s while moving
    move_shared = true           # pages other processes map too (CAP_SYS_NICE): shared buffers

May import: pydantic, tomllib (tomli before Python 3.11), numamove._inputs, numamove.errors, the
policy and tracker registries (names and options only). Reads the file it is given.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from numamove._inputs import parse_duration, parse_size
from numamove.errors import InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Debian 12 has 3.11
    import tomli as tomllib

__all__ = ["ConfigError", "DaemonConfig", "DaemonSettings", "MetricsSettings", "Selection", "load_config",
           "parse_config"]


class ConfigError(InvalidInputError):
    """A configuration file that cannot be used: the message names the file, the key and the cause."""


def _duration(low: float, high: float) -> BeforeValidator:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError('expected a duration like "5s" or "500ms"')
        text = value if isinstance(value, str) else f"{value}"
        return parse_duration(text, "the duration", low=low, high=high)
    return BeforeValidator(check)


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('expected a size like "256M" or "1G"')
    return parse_size(str(value), "the size", low=4096, high=1 << 40)


def _regex(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a regular expression")
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"not a regular expression: {error}") from None
    return value


def _names(value: Any) -> tuple[str, ...]:
    """Tracker names: "damon,threads" or ["damon", "threads"]; "" or [] is none."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ValueError('expected tracker names, "damon,threads" or ["damon", "threads"]')
    names = tuple(item.strip() for item in items if item.strip())
    if len(set(names)) != len(names):
        raise ValueError("a tracker is named twice")
    return names


Seconds = Annotated[float, _duration(0.01, 86400.0)]
Bytes = Annotated[int, BeforeValidator(_size)]
Regex = Annotated[str, BeforeValidator(_regex)]
TrackerNames = Annotated[tuple[str, ...], BeforeValidator(_names)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonSettings(_Strict):
    log: Literal["auto", "json", "text"] = "auto"


class MetricsSettings(_Strict):
    enabled: bool = True
    address: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464


class Selection(_Strict):
    """Which processes, and how their pages are placed: one line of the daemon's work."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    pids: list[Annotated[int, Field(gt=0, lt=1 << 22)]] | None = None
    comm: Regex | None = None
    cmdline: Regex | None = None
    cgroup: str | None = None
    min_rss: Bytes | None = None
    tracker: TrackerNames = ("damon", "threads")
    fallback: TrackerNames = ("softdirty", "threads")
    tracker_options: dict[str, dict[str, str]] = Field(default_factory=dict)
    policy: str = "locality"
    policy_options: dict[str, str] = Field(default_factory=dict)
    interval: Seconds = 30.0
    profile: Seconds = 10.0
    sample: Seconds = 1.0
    budget: Bytes = 256 << 20
    rate: float | None = Field(None, gt=0.01, le=1e6)
    move_shared: bool = False
    """Move pages other processes map too (MPOL_MF_MOVE_ALL, needs CAP_SYS_NICE): shared buffers."""

    @field_validator("tracker")
    @classmethod
    def _some_tracker(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one tracker")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Selection:
        if not any(v is not None for v in (self.pids, self.comm, self.cmdline, self.cgroup)):
            raise ValueError("a selection names its processes: pids, comm, cmdline or cgroup "
                             "(min_rss narrows)")
        if self.profile > self.interval:
            raise ValueError(f"profile ({self.profile:g} s) is longer than the interval "
                             f"({self.interval:g} s)")
        if self.sample > self.profile:
            raise ValueError(f"sample ({self.sample:g} s) is longer than profile ({self.profile:g} s)")
        if "budget" in self.policy_options:
            raise ValueError("the selection's budget sets the policy's budget: give it once, as budget")
        return self


class DaemonConfig(_Strict):
    daemon: DaemonSettings = DaemonSettings()
    metrics: MetricsSettings = MetricsSettings()
    selection: list[Selection] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> DaemonConfig:
        names = [s.name for s in self.selection]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"selection name {twice[0]!r} is used twice")
        return self


def _where(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"


def parse_config(text: str, source: str = "the config") -> DaemonConfig:
    """The config in ``text``; ConfigError naming ``source``, the key or line, and what was expected."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    try:
        config = DaemonConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {_where(tuple(first['loc']))}: {message}") from None
    except InvalidInputError as error:  # a duration or size refused by the shared rules
        raise ConfigError(f"{source}: {error}") from None
    _check_registries(config, source)
    return config


def _check_registries(config: DaemonConfig, source: str) -> None:
    """Policy and tracker names and options, against what is registered (nothing runs yet)."""
    import numamove.policy
    import numamove.trackers  # noqa: F401 - registers numamove's trackers
    from numamove.policy.base import REGISTRY as POLICIES
    from numamove.trackers.base import REGISTRY as TRACKERS

    for index, selection in enumerate(config.selection):
        where = f"{source}: selection[{index}] ({selection.name})"
        try:
            POLICIES.build(selection.policy, {**selection.policy_options, "budget": str(selection.budget)})
            for name in (*selection.tracker, *selection.fallback):
                factory = TRACKERS.get(name)
                known: Mapping[str, str] = factory.info.options
                for option in selection.tracker_options.get(name, {}):
                    if option not in known:
                        raise InvalidInputError(f"tracker {name!r} has no option {option!r}; its options: "
                                                f"{', '.join(known) or 'none'}")
            extra = sorted(set(selection.tracker_options) - {*selection.tracker, *selection.fallback})
            if extra:
                raise InvalidInputError(f"tracker_options names {extra[0]!r}, which is not among its "
                                        "trackers")
        except InvalidInputError as error:
            raise ConfigError(f"{where}: {error}") from None


def load_config(path: str | Path) -> DaemonConfig:
    """Read and check the config file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(f"cannot read the config {path}: {why}") from None
    return parse_config(text, str(path))
