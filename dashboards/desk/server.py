"""The desk served in a background thread of this process, on a free local port: for tests,
benchmarks and tools that need a real desk next to them (``ioc desk serve`` is the real thing)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dashboards.desk.settings import DeskSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def desk_in_thread(settings: DeskSettings, *, start_timeout_s: float = 20.0) -> Iterator[str]:
    """Serve the desk until the block ends; yields its base URL once it listens for changes."""
    import httpx
    import uvicorn

    from dashboards.desk.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name=f"desk-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    try:
        while not (server.started and httpx.get(f"{url}/healthz").json().get("live")):
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the desk did not start within {start_timeout_s:.0f} s")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
