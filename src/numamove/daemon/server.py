"""The daemon's HTTP endpoint: ``GET /metrics`` for Prometheus and ``GET /status`` as JSON.

``StatusServer`` is the standard library's ThreadingHTTPServer on a daemon
thread: no framework, no request log (the daemon logs its own structured
lines), 127.0.0.1 by default. Anything but those two paths is 404; a method
other than GET or HEAD is 501. ``/status`` is whatever the ``status()``
callable returns, as JSON; when it raises (or returns what JSON cannot say,
NaN included) the answer is 500 with ``{"error": "..."}``.

``status()`` and the metrics are read on the server's threads while the loop
runs: ``status()`` must not block for long and must return data the loop no
longer changes (a copy, or a dict it replaces whole).

Kernel interface: none; a TCP socket.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from numamove.daemon.metrics import CONTENT_TYPE, DaemonMetrics, failed_pages, moved_pages
from numamove.errors import InvalidInputError
from numamove.move.apply import ApplyResult
from numamove.policy.plan import KINDS, Plan

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_PORT", "StatusServer", "cycle_status"]

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 9464
"""The port OpenTelemetry's Prometheus exporter uses by default; a config chooses its own."""

JSON_TYPE = "application/json"
REQUEST_TIMEOUT = 10.0
"""Seconds a client may take to send its request before its connection is closed."""


class StatusServer:
    """Serve ``metrics`` at /metrics and ``status()`` at /status on ``address``:``port``.

    ``start()`` binds and serves on a daemon thread; a port that is taken (or
    an address that is not this host's) raises InvalidInputError in one line.
    ``stop()`` closes the socket and waits for the thread; twice is harmless.
    Port 0 lets the kernel pick a free port: ``port`` tells which, once started.
    """

    def __init__(self, address: str, port: int, metrics: DaemonMetrics,
                 status: Callable[[], dict[str, Any]]) -> None:
        if not 0 <= port <= 65535:
            raise InvalidInputError(f"the metrics port must be from 0 to 65535, not {port}")
        self.address = address
        self._port = port
        self.metrics = metrics
        self.status = status
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port served on (the kernel's pick for port 0 once started)."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Bind and serve on a daemon thread; a second call while running does nothing."""
        if self._server is not None:
            return
        server_class = _Server6 if ":" in self.address else _Server
        try:
            server = server_class((self.address, self._port), _Handler)
        except OSError as error:
            raise InvalidInputError(_bind_error(self.address, self._port, error)) from None
        server.owner = self
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25},
                                        name=f"numamove-http-{self._port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the serving thread; harmless when stopped."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def status_body(self) -> tuple[int, bytes]:
        """/status's HTTP status and JSON body: 200 and ``status()``, or 500 and the error."""
        try:
            body = json.dumps(self.status(), allow_nan=False, separators=(",", ":"))
        except Exception as error:  # the endpoint reports any failure of the caller's function
            text = str(error) or type(error).__name__
            return 500, _json({"error": f"status failed: {type(error).__name__}: {text}"})
        return 200, body.encode() + b"\n"


def cycle_status(plan: Plan | None, result: ApplyResult | None, page_size: int) -> dict[str, Any]:
    """A cycle's plan and result as /status shows them: sizes and tallies, not the moves (a plan can
    hold thousands; ``numamove plan``/``apply`` write them whole). ``result`` is None in a dry run.

    ::

        {"plan": {"policy": "tiering", "created": 1764650000.0, "moves": 3, "pages": 4096,
                  "bytes": 16777216, "promote_bytes": ..., "demote_bytes": ..., "locality_bytes": ...,
                  "balance_bytes": ..., "notes": [...]},
         "result": {"pages_moved": 4000, "bytes_moved": 16384000,
                    "moved": [{"from": 2, "to": 0, "direction": "promote", "pages": 4000, "bytes": ...}],
                    "failed": {"EBUSY": 96}, "moves": {"moved": 2, "skipped": 1},
                    "problems": [], "stopped": null}}
    """
    shown: dict[str, Any] = {"plan": None, "result": None}
    if plan is not None:
        summary = plan.summary()
        shown["plan"] = {"policy": plan.policy, "created": plan.created, "moves": summary["moves"],
                         "pages": summary["pages"], "bytes": summary["pages"] * plan.page_size,
                         **{f"{kind}_bytes": summary[f"{kind}_bytes"] for kind in KINDS},
                         "notes": list(plan.notes)}
    if result is not None:
        states: dict[str, int] = {}
        for outcome in result.outcomes:
            states[outcome.state] = states.get(outcome.state, 0) + 1
        moved = [{"from": source, "to": target, "direction": kind, "pages": pages, "bytes": pages * page_size}
                 for (source, target, kind), pages in sorted(moved_pages(result).items())]
        shown["result"] = {"pages_moved": result.pages_moved, "bytes_moved": result.pages_moved * page_size,
                           "moved": moved, "failed": failed_pages(result), "moves": states,
                           "problems": list(result.outcome.problems),
                           "stopped": "interrupted" if result.outcome.interrupted else None}
    return shown


def _bind_error(address: str, port: int, error: OSError) -> str:
    cause = error.strerror or str(error)
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {address} is taken ({cause})"
    if isinstance(error, socket.gaierror):
        return f"cannot listen on {address} port {port}: {address} is not an address ({cause})"
    if error.errno == errno.EACCES:
        return f"cannot listen on {address} port {port}: not permitted ({cause}; ports below 1024 need " \
               "CAP_NET_BIND_SERVICE)"
    return f"cannot listen on {address} port {port}: {cause or os.strerror(error.errno or 0)}"


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: StatusServer

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn(), a name lookup that can hang where DNS is slow."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is no news: nothing on stderr."""


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT
    server_version = "numamove"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        if path == "/metrics":
            code, kind, body = 200, CONTENT_TYPE, owner.metrics.render()
        elif path == "/status":
            code, body = owner.status_body()
            kind = JSON_TYPE
        else:
            code, kind = 404, JSON_TYPE
            body = _json({"error": f"no such path: {path}; the paths are /metrics and /status"})
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No request log on stderr: the daemon logs its own structured lines."""
