"""Our own rate limit on provider calls: VALIDATION_RATE_LIMIT attempts per org and provider.

Every path that leads to a provider call counts (setup, rotate, validate, enable, a config
edit); the attempts live in the store, so the limit holds across processes and instances.
A path that changes the integration before calling counts its attempt with that change
(`window()` on the Write: one unit of work); validating an active integration changes nothing
first, so it records its attempt alone (`count`). Either is refused early, before anything
costly, when the use case's read already shows the window full (`check`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable, TYPE_CHECKING

from ..ports import Attempt, AttemptWindow

if TYPE_CHECKING:
    from ..ports import Snapshot, Store
    from ..settings import Settings
    from datetime import datetime


class RateLimit:
    def __init__(self, store: Store, settings: Settings, clock: Callable[[], datetime]):
        self._store = store
        self._settings = settings
        self._clock = clock

    def since(self) -> datetime:
        """The start of the window now: a read asks for the attempts after it."""
        return self._clock() - timedelta(seconds=self._settings.rate_limit[1])

    def window(self) -> AttemptWindow:
        limit, seconds = self._settings.rate_limit
        return AttemptWindow(self._clock(), seconds, limit)

    def check(self, seen: Snapshot) -> None:
        """Refuse when the read already shows the window full (the write would refuse it too)."""
        limit, window = self._settings.rate_limit
        if seen.attempts >= limit:
            raise Attempt.refused(seen.oldest_attempt, self._clock(), window).error()

    def count(self, org: str, provider: str) -> None:
        """Record an attempt, or refuse it with the seconds until the oldest leaves the window."""
        limit, window = self._settings.rate_limit
        attempt = self._store.try_record_attempt(org, provider, self._clock(), window, limit)
        if not attempt.allowed:
            raise attempt.error()
