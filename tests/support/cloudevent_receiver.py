"""A real functions-framework CloudEvent app on 127.0.0.1, recording what it receives.

Stands in for the validator function: both queues (and the Pub/Sub emulator's push)
deliver to it exactly as they would to the deployed function. `fail_next(n)` makes the
next n deliveries answer 500 (or another status), to exercise redelivery.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import functions_framework
import pytest
from werkzeug.serving import make_server

FUNCTION_SOURCE = Path(__file__).with_name("cloudevent_function.py")


@dataclass(frozen=True)
class Delivery:
    """One delivery as the function saw it: CloudEvent attributes, data, our answer."""

    attributes: dict[str, Any]
    data: Any
    status: int
    event: Any  # the cloudevents CloudEvent itself, for message_from_cloudevent

    @property
    def accepted(self) -> bool:
        return self.status < 300


class CloudEventReceiver:
    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds
        self._lock = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._fail_remaining = 0
        self._fail_status = 500
        saved_path = list(sys.path)  # create_app appends the source's directory to sys.path
        try:
            app = functions_framework.create_app("receive", str(FUNCTION_SOURCE), "cloudevent")
        finally:
            sys.path[:] = saved_path
        app.config["CLOUDEVENT_RECEIVER"] = self
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cloudevent-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> "CloudEventReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "CloudEventReceiver":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail_remaining = count
            self._fail_status = status

    def record(self, event: Any) -> int:
        """Called by the function for every delivery; returns the status to answer."""
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        with self._lock:
            status = 200
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                status = self._fail_status
            attributes = dict(event.get_attributes())
            self._deliveries.append(Delivery(attributes, event.get_data(), status, event))
            self._lock.notify_all()
            return status

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.accepted]

    def wait_for(self, count: int, timeout: float = 10.0, *, accepted_only: bool = True) -> list[Delivery]:
        """Wait until `count` deliveries (accepted ones by default) arrived; return them all."""

        def matching() -> list[Delivery]:
            return [d for d in self._deliveries if d.accepted or not accepted_only]

        with self._lock:
            self._lock.wait_for(lambda: len(matching()) >= count, timeout)
            return matching()


@pytest.fixture
def cloudevent_receiver() -> Iterator[CloudEventReceiver]:
    with CloudEventReceiver() as receiver:
        yield receiver
