"""The local server's recovery loop: what a crash (kill -9) leaves behind is picked up again.

The local queue lives in memory, so validation messages die with the process; `serve`
runs `IntegrationService.recover` when it starts and then every `interval` (the time after
which a validation still pending or validating must have lost its message). In production
Pub/Sub keeps messages, and the daily revalidation runs the same recovery.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


def start_recovery(service: Any, interval: float) -> threading.Event:
    """Recover now and then every `interval` seconds on a daemon thread; set the event to stop."""
    stop = threading.Event()

    def run() -> None:
        while True:
            try:
                service.revalidation.recover()
            except Exception as exc:  # noqa: BLE001 - the next pass tries again
                log.warning("recovery pass failed", extra={"fields": {"error_type": type(exc).__name__}})
            if stop.wait(interval):
                return

    threading.Thread(target=run, name="recovery", daemon=True).start()
    return stop
