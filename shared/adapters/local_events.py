"""Status-change events, embedded: appended to a JSON-lines file under the data directory.

A notifier (or a developer) tails the file; production publishes the same events to a
Pub/Sub topic instead (pubsub_events.py). An event never holds a secret.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class LocalStatusEvents:
    def __init__(self, path: Path):
        self._path = Path(path)
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, sort_keys=True) + "\n").encode()
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)  # one write per line: O_APPEND keeps lines whole across processes
            finally:
                os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self._path.exists():
            return []
        return [json.loads(line) for line in self._path.read_text().splitlines() if line.strip()]
