"""The suite's own live server (tests/conftest.py `serve`), which the browser tests and the Open311 round trip use."""

from __future__ import annotations

import gc
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

from tests.conftest import serve

A_FILE = "/static/vendor/leaflet/images/marker-shadow.png"  # small: sent whole before the reset is noticed


def test_a_browser_hanging_up_mid_file_leaves_no_file_open(app) -> None:  # type: ignore[no-untyped-def]
    """A page that moves on while a static file is being sent resets the connection; the file must still be closed
    (the suite turns the ResourceWarning of a file left to the garbage collector into an error)."""
    before = threading.active_count()
    with serve(app, "hang-up-server") as base:
        address = urlsplit(base)
        for attempt in range(20):
            client = socket.create_connection((address.hostname, address.port))
            client.sendall(f"GET {A_FILE} HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
            if attempt % 2:
                assert client.recv(64).startswith(b"HTTP/1.1 200")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends a reset
            client.close()
        deadline = time.monotonic() + 10
        while threading.active_count() > before + 1 and time.monotonic() < deadline:  # the serving thread stays
            time.sleep(0.05)
    gc.collect()
