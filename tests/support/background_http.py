"""The plumbing every test HTTP server shares: a handler class served on 127.0.0.1 from a
daemon thread, stopped and joined cleanly (no process or thread left behind)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up mid-answer is expected (timeout and size tests)


class BackgroundHttp:
    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, name: str = "test-http"):
        self._httpd = QuietServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
