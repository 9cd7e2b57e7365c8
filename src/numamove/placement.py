"""Moved: the model to :mod:`numamove.model`, the scans to :mod:`numamove.scan`, --vma/--range to
:mod:`numamove.selection`. Kept for modules not yet updated."""
# moved: see numamove.model, numamove.scan, numamove.selection
# (remove once cli.py, mover.py and mapview.py import from there)

from numamove.model import Application, PagePlacement, ProcessMemory, ThreadPlacement, Vma, VmaKind, combine
from numamove.scan import check_ranges, scan_application, scan_process
from numamove.selection import parse_address_range, vma_selector

__all__ = ["Application", "PagePlacement", "ProcessMemory", "ThreadPlacement", "Vma", "VmaKind",
           "check_ranges", "combine", "parse_address_range", "scan_application", "scan_process",
           "vma_selector"]
