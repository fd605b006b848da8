"""The org API keys an instance verified, kept for a short time (shared/service/orgs.py)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

from ..domain.models import Org


class VerifiedKeys:
    """Key hash -> (org, expiry) for at most `ttl` seconds (monotonic time) and `size` keys."""

    def __init__(self, ttl: float, size: int = 1024, now: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._size = size
        self._now = now
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, tuple[Org, float]] = OrderedDict()

    def get(self, key_hash: str) -> Org | None:
        if self._ttl <= 0:
            return None
        with self._lock:
            found = self._keys.get(key_hash)
            if found is None:
                return None
            if found[1] <= self._now():
                del self._keys[key_hash]
                return None
            return found[0]

    def put(self, key_hash: str, org: Org) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            self._keys[key_hash] = (org, self._now() + self._ttl)
            self._keys.move_to_end(key_hash)
            while len(self._keys) > self._size:
                self._keys.popitem(last=False)

    def forget(self, slug: str) -> None:
        with self._lock:
            for key_hash in [h for h, (org, _) in self._keys.items() if org.slug == slug]:
                del self._keys[key_hash]
