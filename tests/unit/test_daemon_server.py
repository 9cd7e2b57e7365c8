"""The daemon's HTTP endpoint (numamove.daemon.server) on real sockets on 127.0.0.1, port 0."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from numamove.daemon.metrics import DaemonMetrics
from numamove.daemon.server import DEFAULT_ADDRESS, StatusServer, _bind_error, cycle_status
from numamove.errors import InvalidInputError, NumaMoveError

from .test_daemon_metrics import PAGE, applied, move, plan


def status() -> dict[str, Any]:
    return {"selections": [{"name": "db", "processes": [{"pid": 42, "name": "postgres"}]}]}


@pytest.fixture
def metrics() -> DaemonMetrics:
    metrics = DaemonMetrics(process=False)
    metrics.observe_cycle("db", 1.5, 0.1, 0.2)
    return metrics


@pytest.fixture
def server(metrics: DaemonMetrics) -> Iterator[StatusServer]:
    with StatusServer(DEFAULT_ADDRESS, 0, metrics, status) as running:
        yield running


def get(server: StatusServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.address, server.port, timeout=5)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def test_metrics_is_the_prometheus_text_format(server: StatusServer) -> None:
    assert server.port > 0 and server.running
    code, headers, body = get(server, "/metrics")
    assert code == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)
    text = body.decode()
    assert "# TYPE numamove_cycles_total counter" in text
    assert 'numamove_cycles_total{selection="db"} 1.0' in text
    assert get(server, "/metrics?name[]=x")[0] == 200  # a scraper's query string is ignored
    code, headers, body = get(server, "/metrics", "HEAD")
    assert code == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_metrics_follow_the_loop(server: StatusServer, metrics: DaemonMetrics) -> None:
    metrics.observe_cycle("db", 1.0, 0.0, 0.0)
    assert 'numamove_cycles_total{selection="db"} 2.0' in get(server, "/metrics")[2].decode()


def test_status_is_the_callables_json(server: StatusServer) -> None:
    code, headers, body = get(server, "/status")
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == status()


def test_other_paths_are_404_and_other_methods_501(server: StatusServer) -> None:
    code, headers, body = get(server, "/")
    assert code == 404 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"error": "no such path: /; the paths are /metrics and /status"}
    assert get(server, "/metrics/x")[0] == 404
    assert get(server, "/status", "POST")[0] == 501


def test_a_failing_status_is_a_500_with_a_json_error(metrics: DaemonMetrics) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("the loop is reloading")

    with StatusServer(DEFAULT_ADDRESS, 0, metrics, broken) as running:
        code, headers, body = get(running, "/status")
        assert code == 500 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"error": "status failed: RuntimeError: the loop is reloading"}
        assert get(running, "/metrics")[0] == 200  # the metrics still answer
    with StatusServer(DEFAULT_ADDRESS, 0, metrics, lambda: {"share": float("nan")}) as running:
        code, _, body = get(running, "/status")
        assert code == 500 and "ValueError" in json.loads(body)["error"]  # NaN is not JSON
    with StatusServer(DEFAULT_ADDRESS, 0, metrics, lambda: {"pids": {1, 2}}) as running:
        assert get(running, "/status")[0] == 500


def test_a_taken_port_is_one_line_naming_address_port_and_cause(metrics: DaemonMetrics) -> None:
    with socket.socket() as taken:
        taken.bind((DEFAULT_ADDRESS, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = StatusServer(DEFAULT_ADDRESS, port, metrics, status)
        with pytest.raises(InvalidInputError) as raised:
            server.start()
    assert str(raised.value) == f"port {port} on 127.0.0.1 is taken (Address already in use)"
    assert isinstance(raised.value, NumaMoveError) and raised.value.__cause__ is None
    assert not server.running
    server.stop()  # never started: harmless


def test_a_port_taken_by_another_status_server(server: StatusServer, metrics: DaemonMetrics) -> None:
    with pytest.raises(InvalidInputError, match=rf"^port {server.port} on 127.0.0.1 is taken \("):
        StatusServer(DEFAULT_ADDRESS, server.port, metrics, status).start()
    assert get(server, "/status")[0] == 200  # the first one serves on


def test_bad_addresses_and_ports_are_one_line(metrics: DaemonMetrics) -> None:
    with pytest.raises(InvalidInputError, match=r"^cannot listen on 192\.0\.2\.1 port 0: .*assign"):
        StatusServer("192.0.2.1", 0, metrics, status).start()  # TEST-NET-1: no interface of this host
    with pytest.raises(InvalidInputError, match=r"^the metrics port must be from 0 to 65535, not 70000$"):
        StatusServer(DEFAULT_ADDRESS, 70000, metrics, status)
    # A name that does not resolve (not looked up here: a resolver without network can take long).
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert _bind_error("no.such.host", 9464, unknown) == (
        "cannot listen on no.such.host port 9464: no.such.host is not an address (Name or service not known)")
    refused = PermissionError(errno.EACCES, "Permission denied")
    assert _bind_error("0.0.0.0", 80, refused) == (
        "cannot listen on 0.0.0.0 port 80: not permitted (Permission denied; ports below 1024 need "
        "CAP_NET_BIND_SERVICE)")


def test_stop_closes_the_port_and_is_harmless_twice(metrics: DaemonMetrics) -> None:
    server = StatusServer(DEFAULT_ADDRESS, 0, metrics, status)
    server.start()
    server.start()  # already running: nothing new
    port = server.port
    assert get(server, "/status")[0] == 200
    server.stop()
    server.stop()
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        get(server, "/status")
    again = StatusServer(DEFAULT_ADDRESS, port, metrics, status)  # the port is free again
    again.start()
    try:
        assert get(again, "/status")[0] == 200
    finally:
        again.stop()
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("numamove-http-")]


def test_nothing_is_logged_to_stderr(server: StatusServer, capfd: pytest.CaptureFixture[str]) -> None:
    get(server, "/metrics")
    get(server, "/nowhere")
    get(server, "/status", "DELETE")
    with socket.create_connection((server.address, server.port)) as rude:  # goes away mid-request
        rude.sendall(b"GET /met")
    with socket.create_connection((server.address, server.port)) as garbage:
        garbage.sendall(b"\x00\x01 not http\r\n\r\n")
        garbage.recv(1000)
    assert get(server, "/status")[0] == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_scrapes_while_the_loop_observes(server: StatusServer, metrics: DaemonMetrics) -> None:
    answers: list[int] = []

    def scrape() -> None:
        for _ in range(10):
            answers.append(get(server, "/metrics")[0])

    threads = [threading.Thread(target=scrape) for _ in range(4)]
    for thread in threads:
        thread.start()
    for index in range(200):
        metrics.observe_cycle(f"s{index % 5}", 0.5, 0.0, 0.0)
        metrics.observe_error(f"s{index % 5}", "apply")
        if index % 50 == 49:
            metrics.forget("s0")
    for thread in threads:
        thread.join()
    assert answers == [200] * 40
    assert metrics.value("numamove_cycles_total", selection="s1") == 40


def test_cycle_status_is_the_plan_and_result_in_short() -> None:
    moves = (move("promote", 2, 0, 100), move("demote", 0, 2, 60, 200))
    shown = cycle_status(plan(*moves), applied(), PAGE)
    assert shown["plan"] == {"policy": "tiering", "created": 0.0, "moves": 2, "pages": 160,
                             "bytes": 160 * PAGE, "locality_bytes": 0, "promote_bytes": 100 * PAGE,
                             "demote_bytes": 60 * PAGE, "balance_bytes": 0, "notes": []}
    assert shown["result"] == {
        "pages_moved": 167, "bytes_moved": 167 * PAGE,
        "moved": [{"from": 0, "to": 1, "direction": "demote", "pages": 10, "bytes": 10 * PAGE},
                  {"from": 0, "to": 2, "direction": "demote", "pages": 50, "bytes": 50 * PAGE},
                  {"from": 1, "to": 0, "direction": "locality", "pages": 7, "bytes": 7 * PAGE},
                  {"from": 2, "to": 0, "direction": "promote", "pages": 100, "bytes": 100 * PAGE}],
        "failed": {"EBUSY": 5, "ENOMEM": 3},
        "moves": {"partly moved": 1, "moved": 2, "skipped": 1, "not run": 1},
        "problems": [], "stopped": None}
    assert json.loads(json.dumps(shown, allow_nan=False)) == shown
    assert cycle_status(plan(), None, PAGE)["result"] is None  # a dry run plans only
    assert cycle_status(None, None, PAGE) == {"plan": None, "result": None}
