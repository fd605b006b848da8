"""The local server's request reading: malformed HTTP gets a JSON catalogue error, promptly.

werkzeug's dev server answers what Python's http.server refuses (an oversized request
line or header, a bad request line) with an HTML page whose status line may repeat the
input, trusts the last of two conflicting Content-Length headers, and waits forever for
a body that never comes. This handler:

- reads the request line, the headers and the body against one deadline
  (`read_timeout`): a request not received in time gets 408 `request_timeout`;
- caps the request line (414 `uri_too_long`) and all header bytes together
  (431 `headers_too_large`);
- refuses ambiguous framing (400): a Content-Length that is no number, several that
  disagree, or one next to Transfer-Encoding; a body over 64 KiB is 413 at once;
- reads the whole body before the function runs, so no function ever blocks on it.

Deployed functions sit behind Google's front end, which does all of this itself.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from .domain.errors import IntegrationsError
from .web import MAX_BODY, error_body

log = logging.getLogger("integrations.http")

MAX_REQUEST_LINE = 65536
MAX_HEADER_BYTES = 64 * 1024
READ_TIMEOUT_SECONDS = 10.0
WRITE_TIMEOUT_SECONDS = 60.0

_CODES = {408: "request_timeout", 413: "payload_too_large", 414: "uri_too_long", 431: "headers_too_large"}
_MALFORMED = "Malformed HTTP request"


class _Refused(Exception):
    def __init__(self, status: int, message: str | None = None):
        super().__init__(status)
        self.status = status
        self.message = message


class _Reader:
    """Reads from the connection's buffered reader, never past the deadline or the byte budget.

    Each step does at most one receive (peek / read1), with the socket timeout set to
    what is left of the deadline, so a client dripping bytes cannot stretch it.
    """

    def __init__(self, buffered: Any, connection: Any, seconds: float):
        self._buffered = buffered
        self._connection = connection
        self._deadline = time.monotonic() + seconds
        self.consumed = 0
        self.budget: int | None = None

    def _arm(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request not received in time")
        self._connection.settimeout(remaining)

    def _took(self, data: bytes) -> bytes:
        self.consumed += len(data)
        if self.budget is not None and self.consumed > self.budget:
            raise _Refused(431)
        return data

    def readline(self, limit: int = -1) -> bytes:
        line = bytearray()
        while limit < 0 or len(line) < limit:
            self._arm()
            ahead = self._buffered.peek(1)
            if not ahead:
                break
            room = len(ahead) if limit < 0 else min(len(ahead), limit - len(line))
            newline = ahead.find(b"\n", 0, room)
            line += self._took(self._buffered.read(newline + 1 if newline >= 0 else room))
            if newline >= 0:
                break
        return bytes(line)

    def read(self, size: int = -1) -> bytes:
        data = bytearray()
        while size < 0 or len(data) < size:
            self._arm()
            chunk = self._buffered.read1(65536 if size < 0 else min(65536, size - len(data)))
            if not chunk:
                break
            data += self._took(chunk)
        return bytes(data)


def _exactly(reader: _Reader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:  # the client closed early: nobody to answer
        raise ConnectionResetError("request body cut short")
    return data


def _dechunk(reader: _Reader) -> bytes:
    """A chunked body, strictly (werkzeug's reader accepts a short chunk as a whole one)."""
    body = bytearray()
    while True:
        line = reader.readline(1024)
        size = re.fullmatch(rb"([0-9A-Fa-f]{1,8})(;[^\r\n]*)?\r?\n", line)
        if size is None:
            raise _Refused(400, _MALFORMED)
        length = int(size.group(1), 16)
        if length == 0:
            break
        if len(body) + length > MAX_BODY:
            raise _Refused(413)
        body += _exactly(reader, length)
        if reader.readline(3) not in (b"\r\n", b"\n"):
            raise _Refused(400, _MALFORMED)
    while (trailer := reader.readline(8192)) not in (b"\r\n", b"\n"):  # trailers: read, ignored
        if not trailer.endswith(b"\n"):
            raise _Refused(400, _MALFORMED)
    return bytes(body)


class GuardedRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    read_timeout = READ_TIMEOUT_SECONDS
    _body: bytes | None = None

    def handle_one_request(self) -> None:
        """Python's loop for one request, with the deadline reader and JSON refusals."""
        plain = self.rfile
        reader = _Reader(plain, self.connection, self.read_timeout)
        self.rfile = reader  # type: ignore[assignment]
        try:
            self.raw_requestline = reader.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", "", ""
                raise _Refused(414)
            if not self.raw_requestline:
                self.close_connection = True
                return
            reader.consumed, reader.budget = 0, MAX_HEADER_BYTES
            if not self.parse_request():
                return
            reader.budget = None
            self._body = self._read_body(reader)
            self.rfile = plain
            self.connection.settimeout(WRITE_TIMEOUT_SECONDS)
            getattr(self, "do_" + self.command)()
            self.wfile.flush()
        except _Refused as refused:
            self.refuse(refused.status, refused.message)
        except TimeoutError:
            if reader.consumed or getattr(self, "raw_requestline", b""):
                self._answer_if_possible(408)
            self.close_connection = True
        finally:
            self.rfile = plain

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok and self.headers.defects:  # e.g. a header line without a colon
            raise _Refused(400, _MALFORMED)
        return ok

    def _read_body(self, reader: _Reader) -> bytes | None:
        """The whole body (None when the request has none), or _Refused."""
        lengths = self.headers.get_all("Content-Length") or []
        encodings = self.headers.get_all("Transfer-Encoding") or []
        values = {v.strip() for header in lengths for v in header.split(",")}
        if lengths and (encodings or len(values) != 1 or not re.fullmatch(r"[0-9]{1,18}", next(iter(values)))):
            raise _Refused(400, "Invalid or conflicting Content-Length")
        if encodings:
            if [e.strip().lower() for e in ",".join(encodings).split(",")] != ["chunked"]:
                raise _Refused(400, "Unsupported Transfer-Encoding")
            return _dechunk(reader)
        if not lengths:
            return None
        length = int(next(iter(values)))
        if length > MAX_BODY:
            raise _Refused(413)
        return _exactly(reader, length)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if self._body is not None:  # the body as read: no function waits on the socket
            environ["wsgi.input"] = io.BytesIO(self._body)
            environ["CONTENT_LENGTH"] = str(len(self._body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ.pop("wsgi.input_terminated", None)
        return environ

    def _answer_if_possible(self, status: int) -> None:
        try:
            self.connection.settimeout(WRITE_TIMEOUT_SECONDS)
            self.refuse(status)
        except OSError:
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's refusals (its message may quote the request line: not used)."""
        self.refuse(int(code))

    def refuse(self, status: int, message: str | None = None) -> None:
        """A catalogue error as JSON; the status line and the log never repeat the request."""
        code = _CODES.get(status, "bad_request")
        error = IntegrationsError((message or _MALFORMED) if code == "bad_request" else None, code=code)
        body = json.dumps(error_body(error), separators=(",", ":")).encode()
        log.warning("HTTP request refused", extra={"status": error.status, "code": error.code})
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # unparsed request: still answer with a status line
        self.send_response(error.status)
        for header, value in (
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
        ):
            self.send_header(header, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True
        self._discard_pending()

    def _discard_pending(self) -> None:
        """Read (briefly) what the client is still sending, so closing does not reset the
        connection before it reads the answer."""
        try:
            self.connection.settimeout(0.05)
            for _ in range(64):
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass

    def log_error(self, format: str, *args: Any) -> None:
        log.warning("HTTP connection error")  # the arguments may hold request bytes

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # the functions log every request they answer (without the path)
