"""A hard deadline on each provider call, from connect to the answer's last byte.

httpx timeouts bound each socket operation, not a call: a provider sending one byte every
1.5 s never trips a 2 s read timeout. Here every socket operation of a provider call goes
through `DeadlineStream`, which shortens the operation's timeout to what is left before
the call's deadline (set with `call_deadline`) and fails at once when nothing is left.

Why a network backend rather than a worker thread the caller stops waiting for: the
blocked read itself wakes at the deadline (its socket timeout says so), so the call ends
then, on the caller's thread, with its connection closed; no thread is left reading an
abandoned answer in the background. Not bounded: DNS resolution (the resolver's own
timeout applies), and calls through an environment proxy (httpx mounts its own transport
for those; the reader's check between chunks still applies).

Imported only when a validator builds its client (httpcore is loaded then anyway).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

_DEADLINE: ContextVar[float | None] = ContextVar("provider_call_deadline", default=None)


@contextmanager
def call_deadline(deadline: float) -> Iterator[None]:
    """Socket operations in this block end by `deadline` (a time.monotonic() value)."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("provider call deadline reached")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> "DeadlineStream":
        return DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> DeadlineStream:  # fmt: skip
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> DeadlineStream:  # fmt: skip
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (request and error mapping) over a pool using DeadlineBackend.

    HTTPTransport keeps everything it does in `self._pool`; its __init__ is not called
    because it would build (and load CA certificates for) a second pool we would discard.
    """

    def __init__(self) -> None:
        # httpx's default limits, which httpcore's defaults are not.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, network_backend=DeadlineBackend(),
        )  # fmt: skip
