"""Our own rate limit on provider calls: VALIDATION_RATE_LIMIT attempts per org and provider.

Every path that leads to a provider call counts (setup, rotate, validate, enable, a config
edit); the attempts live in the store, so the limit holds across processes and instances.
"""

from __future__ import annotations

from typing import Callable, TYPE_CHECKING

from ..domain.errors import RateLimitedError

if TYPE_CHECKING:
    from ..ports import Store
    from ..settings import Settings
    from datetime import datetime


class RateLimit:
    def __init__(self, store: Store, settings: Settings, clock: Callable[[], datetime]):
        self._store = store
        self._settings = settings
        self._clock = clock

    def count(self, org: str, provider: str) -> None:
        """Record an attempt, or refuse it with the seconds until the oldest leaves the window."""
        limit, window = self._settings.rate_limit
        attempt = self._store.try_record_attempt(org, provider, self._clock(), window, limit)
        if not attempt.allowed:
            raise RateLimitedError(headers={"Retry-After": str(attempt.retry_after)})
