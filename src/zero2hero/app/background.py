"""Serving an app from a background thread on a free loopback port, for tests, the load test, the lab and the
screenshot: ``with serving(app) as base_url: ...``; the server stops (open connections closed) when the block ends."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from zero2hero.errors import Zero2HeroError

START_TIMEOUT_S = 30.0


@contextmanager
def serving(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the ASGI ``app`` with uvicorn in a daemon thread; yield its base URL, e.g. ``http://127.0.0.1:43817``."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))  # port 0: the system picks a free one, and this socket keeps it ours
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="z2h-serving", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            listener.close()
            raise Zero2HeroError(f"the web server did not start on {host}:{port}", "see the log above for why")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        listener.close()
