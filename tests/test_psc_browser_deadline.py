"""The PSC browser holds the candidate to a whole-answer deadline: a relying party that announces a body and
then trickles it one byte at a time cannot hang the run (issue: deadlines everywhere)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from conformance.psc.browser import Browser
from conformance.sandbox.client import SandboxTimeout


def _trickling_server(stop: threading.Event) -> int:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)

    def serve() -> None:
        end = time.monotonic() + 30  # stops by itself
        while not stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            while not stop.is_set() and time.monotonic() < end:
                try:
                    conn.sendall(b" ")
                except OSError:
                    break
                time.sleep(0.2)  # one byte every 200 ms: each read succeeds, the answer never ends
            conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def test_a_trickling_answer_ends_in_a_timeout_not_a_hang() -> None:
    stop = threading.Event()
    port = _trickling_server(stop)
    browser = Browser(f"http://127.0.0.1:{port}", timeout=1.5)
    try:
        with pytest.raises(SandboxTimeout) as caught:
            browser.start_login()
    finally:
        stop.set()
        browser.close()
    assert "1.5 s" in caught.value.message
    assert "pas de réponse complète" in browser.steps[-1].note
