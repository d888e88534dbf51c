"""Fixtures of the sandbox tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

Serve = Callable[[socket.socket], list[bytes]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(listening_socket)``: accept connections in a thread and record the first bytes of
    each; checks that the listener is reachable from here (a ``from-parent`` probe) and returns
    the live list of what arrived. Stopped and closed at teardown."""
    stop = threading.Event()
    started: list[tuple[threading.Thread, socket.socket]] = []

    def start(server: socket.socket) -> list[bytes]:
        server.settimeout(0.1)
        received: list[bytes] = []

        def loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(1)
                    try:
                        received.append(conn.recv(100))
                    except TimeoutError:
                        received.append(b"<connected, nothing sent>")

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        started.append((thread, server))
        with socket.socket(server.family) as probe:
            probe.settimeout(2)
            probe.connect(server.getsockname())
            probe.sendall(b"from-parent")
        deadline = time.monotonic() + 2
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == [b"from-parent"]
        return received

    yield start
    stop.set()
    for thread, server in started:
        thread.join()
        server.close()
