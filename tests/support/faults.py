"""Fault injection for the Store, the one way tests force a store failure: a wrapper around a
real adapter (SQLite, or BigQuery on the emulator) whose armed method raises.

    store = FaultyStore(SqliteStore(path))
    store.fail("commit")                       # the next commit raises StoreError, writing nothing
    store.fail("commit", on_call=2, after=True, error=Crash)   # the 2nd commit is stored, then "the process dies"
    store.fail("commit", times=None)           # every commit fails until store.heal()
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

from shared.domain.errors import EncryptionError, StoreError
from shared.ports import Encrypted


def sqlite_failure() -> StoreError:
    """A StoreError chained to a real sqlite3 error, as the SQLite adapter raises it."""
    try:
        sqlite3.connect(":memory:").execute("INSERT INTO missing_table VALUES (1)")
    except sqlite3.Error as exc:
        error = StoreError("Store unavailable")
        error.__cause__ = exc
        return error
    raise AssertionError("unreachable")  # pragma: no cover


class FaultyStore:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}
        self._fault: tuple[str, int, Callable[[], BaseException], bool, int | None] | None = None

    def fail(
        self,
        method: str,
        on_call: int = 1,
        error: Callable[[], BaseException] = StoreError,
        after: bool = False,
        times: int | None = 1,
    ) -> None:
        """Arm: from the `on_call`-th call of `method` on, `times` calls (None: all) raise `error`,
        after doing their work when `after`."""
        self.calls = {}
        self._fault = (method, on_call, error, after, times)

    def heal(self) -> None:
        self._fault = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            fault = self._fault
            if fault is None or fault[0] != name or self.calls[name] < fault[1]:
                return attr(*args, **kwargs)
            method, on_call, error, after, times = fault
            if times is not None:
                self._fault = (method, on_call, error, after, times - 1) if times > 1 else None
            if after:
                attr(*args, **kwargs)
            raise error()

        return call


class FailingCipher:
    """The local keyring, except that encrypt fails (a KMS outage)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fail = True

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> Encrypted:
        if self.fail:
            raise EncryptionError()
        return self.inner.encrypt(plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        return self.inner.decrypt(ciphertext, associated_data)

    def primary_key_version(self) -> str:
        return self.inner.primary_key_version()
