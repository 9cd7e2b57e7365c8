"""Pure parsers for the /proc and /sys files numamove reads. Text in, values out."""

from __future__ import annotations

from numamove.errors import TopologyError

__all__ = ["parse_distance", "parse_meminfo", "parse_node_meminfo", "parse_status"]


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo -> {"MemTotal": bytes, "MemAvailable": bytes, ...}.

    Lines read "MemTotal:  1012345 kB"; counts without a unit (HugePages_Total)
    are kept as they are.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or not words[0].endswith(":"):
            continue
        try:
            number = int(words[1])
        except ValueError:
            continue
        values[words[0][:-1]] = number * 1024 if words[2:3] == ["kB"] else number
    return values


def parse_node_meminfo(text: str) -> dict[str, int]:
    """/sys/devices/system/node/nodeN/meminfo ("Node 0 MemTotal:  1012345 kB") -> as parse_meminfo."""
    return parse_meminfo("\n".join(line.split(None, 2)[2] for line in text.splitlines()
                                   if line.startswith("Node ") and len(line.split(None, 2)) == 3))


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
