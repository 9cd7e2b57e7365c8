"""Small text formatters shared by the command, the pictures and messages. Pure: imports nothing."""

from __future__ import annotations

__all__ = ["human_bytes"]


def human_bytes(count: int) -> str:
    """1536 -> "1.5 KiB"; whole bytes below 1 KiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
