"""The audit trail and the status-change events: what every change leaves on record.

An event is built here and stored by the caller's unit of work (`Writes.write`), so a change
and its events commit together; `record` stores an event that goes with no change (a refused
decrypt, a no-op validate). Status changes are also published to subscribers after the
commit, best effort. Never a secret: an event names a fingerprint prefix at most.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable

from ..domain.models import Event, Integration

if TYPE_CHECKING:
    from ..ports import Store
    from ..domain.lifecycle import Status
    from datetime import datetime
    from ..ports import StatusEvents

log = logging.getLogger(__name__)

SYSTEM = "system"  # the actor of what the service does by itself (validator, revalidation)

_id_lock = threading.Lock()
_last_id_ns = 0


def event_id() -> str:
    """Grows with time, strictly within a process, so events of one millisecond keep their
    order (the list is sorted by (at, id)); the random tail keeps ids unique across processes."""
    global _last_id_ns
    with _id_lock:
        _last_id_ns = max(_last_id_ns + 1, time.time_ns())
        stamp = _last_id_ns
    return f"{stamp:020d}-{uuid.uuid4().hex[:8]}"


def quietly(fn: Callable[..., Any], *args: Any) -> None:
    """A best-effort step: its failure is logged (type only), never the caller's failure."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - unexpected: the trace is for the operator (the formatter prints no text)
        log.warning("best-effort step failed", exc_info=True)


class Audit:
    def __init__(self, store: Store, status_events: StatusEvents | None, clock: Callable[[], datetime]):
        self._store = store
        self._status_events = status_events
        self._clock = clock

    def event(
        self, item: Integration, action: str, actor: str, outcome: str, fingerprint: str | None, details: dict[str, Any]
    ) -> Event:
        return Event(
            id=event_id(),
            org=item.org,
            provider=item.provider,
            at=self._clock(),
            action=action,
            actor=actor,
            outcome=outcome,
            fingerprint=fingerprint[:8] if fingerprint else None,
            details=details,
        )

    def status_event(self, item: Integration, before: Status, after: Status, message: str | None) -> Event:
        return self.event(
            item,
            "status_change",
            SYSTEM,
            "ok",
            item.fingerprint,
            {"from": before.value, "to": after.value, "message": message},
        )

    def record(
        self, item: Integration, action: str, actor: str, outcome: str, fingerprint: str | None, details: dict[str, Any]
    ) -> None:
        """An event with no change to commit along."""
        self._store.append_event(self.event(item, action, actor, outcome, fingerprint, details))

    def publish_status(self, item: Integration, before: Status, after: Status, message: str | None) -> None:
        """After the commit: the status change for subscribers (best effort, never a secret)."""
        log.info("status changed", extra={"fields": {"from": before.value, "to": after.value}})
        if self._status_events is not None:
            quietly(
                self._status_events.publish,
                {
                    "org": item.org,
                    "provider": item.provider,
                    "from": before.value,
                    "to": after.value,
                    "message": message,
                    "at": self._clock().isoformat(),
                },
            )
