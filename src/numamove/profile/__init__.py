"""Profiles of memory access over time: the log a ``numamove profile`` run writes, and its report."""
