"""The local validator endpoint's token: only the local queue (or the emulator's push) may call it.

`serve` issues a new random token at each start into DATA_DIR/validator.token (0600);
the local queue reads that file when it posts (so `revalidate` from another process
works too) and sends it in a header. A Pub/Sub push subscription cannot send headers,
so the emulator's push URL carries it in the query string. In production the validator
is no HTTP endpoint of ours at all: Eventarc invokes the private function.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

FILE_NAME = "validator.token"
HEADER = "X-Validator-Token"
QUERY_PARAMETER = "token"
_ENVIRON_HEADER = "HTTP_" + HEADER.upper().replace("-", "_")


def issue(data_dir: Path) -> str:
    """A new token, written atomically to DATA_DIR/validator.token, readable by this user only."""
    token = secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = data_dir / f".{FILE_NAME}.{os.getpid()}"
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, token.encode("ascii"))
    finally:
        os.close(fd)
    os.replace(temporary, data_dir / FILE_NAME)
    return token


def read(path: Path) -> str | None:
    """The current token, or None when no server issued one (nothing to send)."""
    try:
        return path.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def presented(environ: dict[str, Any]) -> str | None:
    """The token a request carries (header, else query string), or None."""
    value = environ.get(_ENVIRON_HEADER)
    if value:
        return value
    values = parse_qs(environ.get("QUERY_STRING", "")).get(QUERY_PARAMETER)
    return values[0] if values else None


def accepts(environ: dict[str, Any], expected: str | None) -> bool:
    """True only when a token was issued and the request carries exactly it (constant time)."""
    given = presented(environ)
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))
