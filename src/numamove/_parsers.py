"""Pure parsers for the /proc and /sys files numamove reads. Text in, values out."""

from __future__ import annotations

from numamove.errors import TopologyError

__all__ = ["parse_distance", "parse_node_meminfo", "parse_status"]


def parse_node_meminfo(text: str) -> dict[str, int]:
    """/sys/devices/system/node/nodeN/meminfo -> {"MemTotal": bytes, ...}.

    Lines read "Node 0 MemTotal:  1012345 kB"; counts without a unit
    (HugePages_Total) are kept as they are.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or words[0] != "Node" or not words[2].endswith(":"):
            continue
        try:
            number = int(words[3])
        except ValueError:
            continue
        unit = words[4] if len(words) > 4 else ""
        values[words[2][:-1]] = number * 1024 if unit == "kB" else number
    return values


def parse_distance(text: str) -> tuple[int, ...]:
    """/sys/devices/system/node/nodeN/distance ("10 20 20") -> SLIT distances by node position."""
    try:
        return tuple(int(word) for word in text.split())
    except ValueError:
        raise TopologyError(f"malformed node distance line {text.strip()!r}") from None


def parse_status(text: str) -> dict[str, str]:
    """/proc/PID/status -> {"Name": "bash", "Mems_allowed_list": "0-2", ...}."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields
