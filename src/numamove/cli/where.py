"""``numamove where``: where the memory of one or more processes lives, per VMA and in total.

Reads /proc/PID/maps, numa_maps, smaps and pagemap through numamove.scan.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from numamove._format import human_bytes
from numamove.cli.app import main, parse_ranges, reports_errors, scan_options, select_targets, shared_help
from numamove.cli.output import print_table
from numamove.errors import NumaMoveError

if TYPE_CHECKING:
    from numamove.kernel import Kernel
    from numamove.model import ProcessMemory


@main.command()
@shared_help
@scan_options
@click.option("--pages", is_flag=True, help="Add the exact placement of every page of each VMA.")
@click.option("--method", type=click.Choice(["auto", "pagemap", "query"]), default="auto", show_default=True,
              help="Per-page source: pagemap PFNs (needs CAP_SYS_ADMIN) or move_pages queries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
@reports_errors
def where(kernel: Kernel, target: str, vma: str | None, ranges: tuple[str, ...], pages: bool,
          method: str, as_json: bool) -> None:
    """Show where the memory of TARGET lives, per VMA and in total.

    Reads /proc/PID/maps, numa_maps and smaps; --pages and --range also read
    /proc/PID/pagemap (and query move_pages(2) without CAP_SYS_ADMIN).
    Several processes are counted together too, each shared page once.

    {TARGET_FORMS}

    \b
    Examples:
      numamove where 1234
      numamove where 1234 --pages --range 0x7f0000000000-0x7f0000200000
      numamove where redis-server --json
      numamove where cgroup:system.slice/nginx.service
    """
    from numamove.model import combine
    from numamove.scan import scan_process
    from numamove.selection import vma_selector

    pids = select_targets(kernel, target)
    select = vma_selector(vma) if vma else None
    address_ranges = parse_ranges(ranges)
    scans = []
    # Several processes need the per-page view to count each shared page once.
    per_page = pages or len(pids) > 1
    for pid in pids:
        try:
            scans.append(scan_process(pid, kernel=kernel, pages=per_page, keep_pages=per_page, select=select,
                                      ranges=address_ranges, method=method))
        except NumaMoveError as error:
            if len(pids) == 1 or (not scans and pid == pids[-1]):  # nothing read: an error, not a warning
                raise
            click.echo(f"numamove: warning: pid {pid} skipped: {error}", err=True)
    if as_json:
        documents = [scan.to_dict(with_pages=pages) for scan in scans]
        click.echo(json.dumps(documents[0] if len(pids) == 1 else documents, indent=1))
        return
    for scan in scans:
        print_process(scan, pages)
    if len(scans) > 1:
        application = combine(scans)
        total = sum(application.pages_by_node.values())
        click.echo(f"application ({len(scans)} processes, each shared page counted once): "
                   f"{node_shares(application.pages_by_node, total)}; "
                   f"{application.shared_pages} pages mapped by more than one of them")


def node_shares(counts: dict[int, int], total: int) -> str:
    if not total:
        return "no present pages"
    return ", ".join(f"node {node} {count} ({count / total:.1%})" for node, count in sorted(counts.items()))


def print_process(scan: ProcessMemory, with_pages: bool) -> None:
    from numamove.nodemask import format_nodemask

    node_ids = sorted({node for vma in scan.vmas for node in vma.pages_by_node})
    share = "-" if scan.local_share is None else f"{scan.local_share:.1%}"
    thread_nodes = format_nodemask(scan.thread_nodes) or "?"
    swapped = "?" if scan.swapped is None else str(scan.swapped)
    size = human_bytes(scan.present * scan.page_size)
    click.echo(f"pid {scan.pid} ({scan.name}): {scan.present} present pages ({size}): "
               f"{node_shares(scan.pages_by_node, scan.present)}")
    click.echo(f"  {scan.not_present} not present, {swapped} swapped; {len(scan.threads)} threads last ran "
               f"on node {thread_nodes}; {share} of present pages are local to them (source: {scan.method})")
    rows = []
    for vma in scan.vmas:
        low, high = vma.scanned or (vma.start, vma.end)
        rows.append([f"{low:x}", f"{high:x}", vma.kind.value,
                     *(str(vma.pages_by_node.get(node, 0)) for node in node_ids),
                     str(vma.not_present), "?" if vma.swapped is None else str(vma.swapped),
                     vma.policy, ("(gone) " if vma.gone else "") + vma.path])
    print_table(None, ["start", "end", "kind", *(f"node{n}" for n in node_ids), "absent", "swapped",
                       "policy", "path"], rows, optional=("policy", "swapped", "absent", "end", "path"))
    by_kind = scan.pages_by_kind()
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(by_kind.items()) if count)
    click.echo(f"  by kind: {kinds or 'nothing present'}")
    if with_pages:
        for vma in scan.vmas:
            if vma.pages is not None:
                click.echo(f"  {vma.start:x} {vma.kind.value} pages: {runs(vma.pages.nodes)}")


def runs(nodes: Any) -> str:
    """Run-length text of per-page nodes: "0x128 2x256 -x12" ("-" = not present, "z" = zero page)."""
    import numpy as np

    if len(nodes) == 0:
        return "(none)"
    edges = np.flatnonzero(np.diff(nodes)) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [len(nodes)]]))
    names = {-2: "-", -14: "z"}
    return " ".join(f"{names.get(int(nodes[s]), str(int(nodes[s])))}x{int(n)}"
                    for s, n in zip(starts, lengths, strict=True))
