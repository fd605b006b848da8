"""Read a provider's answer from the raw stream, decompressing it ourselves, up to a cap.

The cap counts bytes after decompression, and decompression is bounded too: each chunk
is inflated with `max_length` set to what is left under the cap (plus one byte, to tell
"exactly the cap" from "more"), so a gzip bomb never expands past the cap in memory.
We ask for `gzip, deflate` only; any other content-encoding is an unreadable answer.
"""

from __future__ import annotations

import time
import zlib

import httpx

ACCEPT_ENCODING = "gzip, deflate"
# Headers describing the wire encoding, not the decoded body we hand on.
WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class AnswerTooLarge(Exception):
    """The answer holds more than the cap, after decompression."""


class AnswerUnreadable(Exception):
    """An encoding we did not ask for, or a corrupt compressed body. (One cut short is
    handed on as far as it goes: the interpreter then finds no JSON in it.)"""


class _Inflate:
    """Bounded gzip / deflate (zlib-wrapped, or raw as some servers send it)."""

    def __init__(self, encoding: str):
        self._gzip = encoding in ("gzip", "x-gzip")
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, max_length: int) -> bytes:
        if self._z.eof:
            return b""  # trailing bytes after the compressed stream are ignored
        try:
            out = self._z.decompress(data, max_length)
        except zlib.error:
            if self._gzip or self._started:
                raise AnswerUnreadable() from None
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
            try:
                out = self._z.decompress(data, max_length)
            except zlib.error:
                raise AnswerUnreadable() from None
        self._started = True
        return out


def _inflater(response: httpx.Response) -> _Inflate | None:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflate(encoding)
    raise AnswerUnreadable()


def read_capped(response: httpx.Response, limit: int, deadline: float) -> httpx.Response:
    """The answer with its body read (at most `limit` bytes decoded), as a plain Response.

    Raises AnswerTooLarge, AnswerUnreadable, or httpx.ReadTimeout once `deadline`
    (time.monotonic()) passes between two chunks.
    """
    inflate = _inflater(response)
    declared = response.headers.get("content-length", "")
    if inflate is None and declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge()
    body = bytearray()
    for chunk in response.iter_raw():
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("provider call deadline reached", request=response.request)
        room = limit - len(body)
        data = chunk if inflate is None else inflate.feed(chunk, room + 1)
        if len(data) > room:
            raise AnswerTooLarge()
        body += data
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in WIRE_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=response.request)
