"""A stand-in provider that misbehaves on purpose: what a validator must survive.

Every path gets the same answer, so a validator pointed at it through any base-URL
setting (OPENAI_BASE_URL, GCP_TOKEN_URI, BIGQUERY_API_URL...) meets it on its first call.
Binds 127.0.0.1 on a free port (or --port), serves from daemon threads, and cuts every
slow or endless answer short when stopped.

Modes (`HostileProvider(mode, **options)`):
  trickle       200 and a JSON body sent one byte every `interval` seconds
  slow_headers  the status line and headers sent one byte every `interval` seconds
  huge          200 and a body of `size` bytes (default 1 GiB), streamed, never held whole;
                chunked, or with its Content-Length when `declare_length`
  gzip_bomb     200, `content-encoding: gzip`, ~1 MiB that inflates to 1 GiB of zeros
  deep          `status` (default 400) and a JSON body nested `depth` levels (default 200k)
  body          `status` with the given `body` bytes and extra `headers`

By hand:  python -m tests.support.hostile_provider gzip_bomb --port 8099
"""

from __future__ import annotations

import argparse
import functools
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.background_http import BackgroundHttp

MODES = ("trickle", "slow_headers", "huge", "gzip_bomb", "deep", "body")
TRICKLE_BODY = b'{"object": "list", "data": []}'
GIB = 1 << 30
CHUNK = 64 * 1024


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~1 MiB of gzip inflating to 1 GiB of zeros, built in well under a second: after a full
    flush deflate starts afresh, so every 1 MiB block compresses to the same bytes."""
    block = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + piece * 1024 + deflate.flush() + struct.pack("<II", crc, GIB & 0xFFFFFFFF)


def deep_json(depth: int) -> bytes:
    return b'{"error": ' + b"[" * depth + b"]" * depth + b"}"


class HostileProvider:
    def __init__(self, mode: str, *, interval: float = 0.3, size: int = GIB, status: int = 400,
                 depth: int = 200_000, body: bytes = b"", headers: dict[str, str] | None = None,
                 declare_length: bool = False, port: int = 0):  # fmt: skip
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode, self.interval, self.size, self.status = mode, interval, size, status
        self.depth, self.body, self.headers, self.port = depth, body, dict(headers or {}), port
        self.declare_length = declare_length
        self.requests = 0  # how many requests arrived (attempts)
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: BackgroundHttp | None = None

    @property
    def url(self) -> str:
        assert self._http is not None, "not started"
        return f"http://127.0.0.1:{self._http.port}"

    # -- what each mode writes (`out` is the socket's file; OSError = the client hung up)
    def _drip(self, out: Any, data: bytes) -> None:
        for i in range(len(data)):
            if self._stopping.wait(self.interval):
                return
            out.write(data[i : i + 1])
            out.flush()
            self._sent(1)

    def _sent(self, count: int) -> None:
        with self._lock:
            self.bytes_sent += count

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = (
            [f"HTTP/1.1 {status} Hostile"] + [f"{k}: {v}" for k, v in headers.items()] + ["Connection: close", "", ""]
        )
        return "\r\n".join(lines).encode()

    def answer(self, out: Any) -> None:
        json_type = {"Content-Type": "application/json"}
        if self.mode == "trickle":
            out.write(self._head(200, {**json_type, "Content-Length": str(len(TRICKLE_BODY))}))
            out.flush()
            self._drip(out, TRICKLE_BODY)
        elif self.mode == "slow_headers":
            self._drip(out, self._head(200, {**json_type, "Content-Length": "2"}) + b"{}")
        elif self.mode == "huge":
            length = {"Content-Length": str(self.size)} if self.declare_length else {"Transfer-Encoding": "chunked"}
            out.write(self._head(200, {**json_type, **length}))
            spaces, left = b" " * CHUNK, self.size
            while left > 0 and not self._stopping.is_set():
                piece = spaces[: min(CHUNK, left)]
                out.write(piece if self.declare_length else b"%x\r\n%s\r\n" % (len(piece), piece))
                self._sent(len(piece))
                left -= len(piece)
            if not self.declare_length:
                out.write(b"0\r\n\r\n")
        elif self.mode == "gzip_bomb":
            bomb = gzip_bomb()
            out.write(self._head(200, {**json_type, "Content-Encoding": "gzip", "Content-Length": str(len(bomb))}))
            for start in range(0, len(bomb), CHUNK):
                if self._stopping.is_set():
                    return
                out.write(bomb[start : start + CHUNK])
                self._sent(len(bomb[start : start + CHUNK]))
        else:
            payload = deep_json(self.depth) if self.mode == "deep" else self.body
            out.write(
                self._head(self.status, {**json_type, **self.headers, "Content-Length": str(len(payload))}) + payload
            )
            self._sent(len(payload))
        out.flush()

    # -- lifecycle
    def start(self) -> "HostileProvider":
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with provider._lock:
                    provider.requests += 1
                self.close_connection = True
                try:
                    provider.answer(self.wfile)
                except OSError:
                    pass  # the client gave up: what a bounded validator does

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._stopping.clear()
        self._http = BackgroundHttp(Handler, self.port, name=f"hostile-{self.mode}")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._http is not None:
            self._http.stop()
        self._http = None

    def __enter__(self) -> "HostileProvider":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve one hostile provider behaviour on 127.0.0.1.")
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between bytes (trickle, slow_headers)")
    args = parser.parse_args()
    with HostileProvider(args.mode, interval=args.interval, port=args.port) as server:
        print(f"{args.mode} provider on {server.url} (Ctrl-C stops)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
