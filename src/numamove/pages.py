"""Re-export of numamove.move.pages for numamove.placement, which imports this old path."""

# moved: see numamove.move.pages
from numamove.move.pages import BATCH_PAGES, NodeSet, as_addresses, migrate_pages, move_pages, resolve_nodes

__all__ = ["BATCH_PAGES", "NodeSet", "as_addresses", "migrate_pages", "move_pages", "resolve_nodes"]
