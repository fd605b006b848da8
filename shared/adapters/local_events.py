"""StatusEvents, embedded: each event appended as one JSON line to a file under the data directory.

A notifier (or a developer) tails the file; production publishes the same payload to a
Pub/Sub topic instead (pubsub_events.py). An event never holds a secret.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Mapping

from ..domain.errors import QueueError
from ..ports import StatusEvent, status_event_payload


class LocalStatusEvents:
    def __init__(self, path: Path):
        self._path = Path(path)
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"LocalStatusEvents(path={str(self._path)!r})"

    # -- the port -------------------------------------------------------------------

    def publish(self, event: StatusEvent | Mapping[str, Any]) -> None:
        """Append one line; QueueError when the file cannot be written or this is closed."""
        line = (json.dumps(status_event_payload(event), sort_keys=True) + "\n").encode()
        with self._lock:
            if self._closed:
                raise QueueError("The local status events file is closed")
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)  # one write per line: O_APPEND keeps lines whole across processes
                finally:
                    os.close(fd)
            except OSError as exc:  # the reason (class) only: the path is the operator's, not the caller's
                raise QueueError(f"Status event could not be recorded ({type(exc).__name__})") from exc

    def ensure_topic(self) -> None:
        """Nothing to create: the first publish creates the file."""

    def close(self) -> None:
        """No handle is kept open (one open per line); later publishes are refused."""
        with self._lock:
            self._closed = True

    # -- for tests and tools --------------------------------------------------------

    def read(self) -> list[dict[str, Any]]:
        if not self._path.exists():
            return []
        return [json.loads(line) for line in self._path.read_text().splitlines() if line.strip()]
