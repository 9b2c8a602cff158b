"""The receiver's HTTP server (issue 17 item 9; issue 15 finding 6): slow clients, limits,
health, graceful stop.

The receiver runs as the real command (``haier-pipeline callbacks``) in its own process, so
its threads can be counted in /proc, and real sockets dribble bytes at it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from haier_pipeline.callbacks import spool
from haier_pipeline.callbacks.receiver import (
    IDLE_TIMEOUT_S,
    MAX_BODY_BYTES,
    SHUTDOWN_GRACE_S,
    THREADS,
    CallbackReceiver,
)
from haier_pipeline_tests.callbacks.forms import APP_KEY, SECRET, callback_form, spool_files

REPO_ROOT = Path(__file__).resolve().parents[2]
SLOW_CLIENTS = 300
DRIBBLE_S = 6.0
GENUINE_CALLBACKS = 20


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``haier-pipeline callbacks --port 0`` in its own process; its URL."""
    env = {
        **os.environ,
        "HAIER_CALLBACK_APP_KEY": APP_KEY,
        "HAIER_CALLBACK_SECRET": SECRET,
        "HAIER_CALLBACK_SPOOL": str(tmp_path / "spool"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "haier_pipeline.cli", "callbacks", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        yield process, found.group(0)
    finally:
        process.kill()
        process.wait()


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return host, int(port)


def _dribble(sockets: list[socket.socket], stop: threading.Event) -> None:
    """One byte of body per client per second, from one thread, until told to stop."""
    while not stop.wait(1.0):
        for sock in sockets:
            try:
                sock.send(b"x")
            except OSError:
                continue


def test_slow_clients_hold_sockets_not_threads_and_callbacks_are_still_answered(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    """Finding 6: 300 clients dribbling bytes held 302 threads of the stdlib server. Under
    waitress the process keeps its fixed threads, and genuine callbacks are answered."""
    process, url = served
    requests.get(url + "healthz", timeout=5).raise_for_status()
    baseline = _threads(process.pid)
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    sockets = [socket.create_connection(_address(url), timeout=5) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()
    dribbler = threading.Thread(target=_dribble, args=(sockets, stop), daemon=True)
    try:
        for sock in sockets:
            sock.sendall(head)
        dribbler.start()
        peak, latencies = baseline, []
        deadline = time.monotonic() + DRIBBLE_S
        for number in range(GENUINE_CALLBACKS):
            started = time.monotonic()
            response = requests.post(url, data=callback_form(f"P-{number}"), timeout=10)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            peak = max(peak, _threads(process.pid))
            time.sleep(max(0.0, deadline - time.monotonic()) / (GENUINE_CALLBACKS - number))
        still_open = sum(1 for sock in sockets if _open(sock))
    finally:
        stop.set()
        for sock in sockets:
            sock.close()

    median_ms = sorted(latencies)[len(latencies) // 2] * 1000
    print(
        f"\n{SLOW_CLIENTS} slow clients for {DRIBBLE_S:g} s: threads {baseline} before, peak "
        f"{peak}; {GENUINE_CALLBACKS} callbacks answered in max {max(latencies) * 1000:.0f} ms, "
        f"median {median_ms:.0f} ms; {still_open} slow connections still open"
    )
    assert peak == baseline, "a slow client made the receiver start a thread"
    assert baseline <= THREADS + 4  # waitress's workers, its I/O loop, main; no per-client one
    assert still_open >= SLOW_CLIENTS * 0.9, "the slow clients were dropped, not held"
    assert max(latencies) < 2.0  # typically a few ms; 2 s is margin for a loaded machine


def _open(sock: socket.socket) -> bool:
    """The server has not closed this connection (nothing to read, no EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def test_a_client_that_stalls_mid_request_is_disconnected(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    _, url = served
    with socket.create_connection(_address(url), timeout=IDLE_TIMEOUT_S * 3) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAppKey=")
        started = time.monotonic()
        reply = conn.recv(1024)  # blocks until the server closes the connection
        waited = time.monotonic() - started

    assert reply == b""
    assert IDLE_TIMEOUT_S - 1 <= waited <= IDLE_TIMEOUT_S * 3


def test_a_body_over_the_limit_is_refused_413_without_being_read(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    host, port = _address(receiver.url)
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(
            f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        reply = conn.makefile("rb").readline()

    assert reply.startswith(b"HTTP/1.1 413")
    assert spool_files(spool_dir) == []


def test_the_health_endpoint_answers_ok_while_the_spool_is_writable(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    response = requests.get(receiver.url + "healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "spool": "writable"}
    assert requests.head(receiver.url + "healthz", timeout=5).status_code == 200
    assert spool_files(spool_dir) == []


def test_the_health_endpoint_answers_503_when_callbacks_could_not_be_spooled(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    (spool_dir / spool.PENDING).rmdir()
    (spool_dir / spool.PENDING).write_text("a file where the folder should be", encoding="utf-8")

    response = requests.get(receiver.url + "healthz", timeout=5)

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_the_callback_path_are_answered_405(
    method: str, receiver: CallbackReceiver, spool_dir: Path
) -> None:
    response = requests.request(method, receiver.url, data=callback_form(), timeout=5)

    assert response.status_code == 405
    assert response.json()["success"] is False
    assert spool_files(spool_dir) == []


def test_sigterm_stops_promptly_with_a_stalled_client_connected(
    served: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """A client stalled mid-request does not hold the stop up; what was answered is spooled,
    the process exits 0 and the port is free."""
    process, url = served
    with socket.create_connection(_address(url), timeout=10) as stalled:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nApp")
        assert requests.post(url, data=callback_form("P-TERM"), timeout=5).status_code == 200
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=SHUTDOWN_GRACE_S + 5) == 0
        stopped_in = time.monotonic() - started

    assert stopped_in < IDLE_TIMEOUT_S  # did not wait for the stalled client to time out
    assert [c.platform_order_no for c in spool.pending(tmp_path / "spool")] == ["P-TERM"]
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server would
        probe.bind(_address(url))  # nothing listens there any more
