"""What a request says, parsed and checked before any use case decides anything: the org slug,
a setup / rotate / edit body, a credential as the provider takes it, a page of events.

Messages name our own fields, never the request's input (an unknown key may be a secret).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from ..domain.errors import BadRequestError, InvalidFormatError
from ..domain.models import Credential, Event
from ..domain.text import encodable, printable

ORG_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
# Cursors only ever hold event times; anything outside these years is not one of ours.
CURSOR_YEARS = range(2000, 3000)


def check_org_slug(org: str) -> str:
    if not (3 <= len(org) <= 50) or not set(org) <= ORG_SLUG_CHARS:
        raise BadRequestError("Organization slug must be 3 to 50 characters of a-z, 0-9 and _")
    return org


@dataclass(frozen=True)
class Actor:
    """Who asks: the org of the API key that authenticated, and the key's id (audit actor)."""

    org: str
    key_id: str


@dataclass(frozen=True)
class SetupRequest:
    credential: Any = None
    name: str | None = None
    config: dict[str, Any] | None = None
    has_config: bool = False
    # When the credential stops working, if the user knows (always, for an Azure client secret).
    expires_at: date | None = None

    @classmethod
    def parse(
        cls, body: Any, *, allow: tuple[str, ...] = ("credential", "name", "config", "expires_at")
    ) -> "SetupRequest":
        if not isinstance(body, dict):
            raise BadRequestError("Request body must be a JSON object")
        if any(key not in allow for key in body):  # never named: the key is request input
            raise BadRequestError("Unknown field in body: the fields are " + ", ".join(allow))
        name = body.get("name")
        if "name" in body and (not isinstance(name, str) or not 1 <= len(name.strip()) <= 100):
            raise BadRequestError("Field 'name' must be a string of 1 to 100 characters")
        if "name" in body and not printable(name):
            raise BadRequestError("Field 'name' must not contain control or format characters")
        config = body.get("config")
        if "config" in body and not isinstance(config, dict):
            raise BadRequestError("Field 'config' must be an object")
        expires_at = parse_date(body["expires_at"]) if body.get("expires_at") is not None else None
        return cls(body.get("credential"), name.strip() if name else None, config, "config" in body, expires_at)

    def checked_expiry(self, provider: str, required: bool, today: date) -> date | None:
        """The credential's expiry date: required where credentials always expire; never one that has come."""
        if self.expires_at is None:
            if required:
                raise BadRequestError(
                    f"Field 'expires_at' is required for {provider}: its credentials always expire "
                    "(give the date, YYYY-MM-DD)"
                )
            return None
        if self.expires_at <= today:
            raise BadRequestError("Field 'expires_at' must be a date after today: that credential has already expired")
        return self.expires_at

    def fields(self) -> list[str]:
        """Which of name / config the request changes (for the audit trail)."""
        return sorted(k for k in ("name", "config") if getattr(self, k) is not None)


def parse_date(value: Any) -> date:
    """`expires_at`: a calendar date, YYYY-MM-DD and nothing else."""
    invalid = BadRequestError("Field 'expires_at' must be a date, YYYY-MM-DD")
    digits = value[:4] + value[5:7] + value[8:] if isinstance(value, str) and len(value) == 10 else ""
    if not (digits.isascii() and digits.isdigit() and value[4] == value[7] == "-"):  # no regex compiled at import
        raise invalid
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid from None


def parse_credential(kind: str, raw: Any) -> Credential:
    """The credential of a body, as the provider's kind takes it: an API key string, or a JSON
    object (a service-account key file, an Azure service principal), or a string holding one."""
    if raw is None:
        raise BadRequestError("Field 'credential' is required")
    if kind in ("service_account", "azure_service_principal"):
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except (ValueError, RecursionError):
                raise InvalidFormatError() from None
            if not encodable(raw):
                raise BadRequestError("Field 'credential' holds text that is not valid Unicode")
        if not isinstance(raw, dict):
            raise InvalidFormatError()
        return Credential.service_account(raw) if kind == "service_account" else Credential.service_principal(raw)
    if not isinstance(raw, str):
        raise BadRequestError("Field 'credential' must be a string")
    value = raw.strip()
    if not value or len(value) > 4096:
        raise InvalidFormatError()
    return Credential(secret=value, kind="api_key")


def page_size(limit: Any) -> int:
    if limit is None or limit == "":
        return 50
    try:
        size = int(limit)
    except (TypeError, ValueError):
        raise BadRequestError("Query parameter 'limit' must be an integer from 1 to 500") from None
    if not 1 <= size <= 500:
        raise BadRequestError("Query parameter 'limit' must be an integer from 1 to 500")
    return size


def encode_cursor(event: Event) -> str:
    return base64.urlsafe_b64encode(f"{event.at.isoformat()}|{event.id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    invalid = BadRequestError("Query parameter 'cursor' is invalid")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, event_id = raw.partition("|")
        when = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if when.tzinfo is None or when.year not in CURSOR_YEARS or not event_id.isascii() or len(event_id) > 64:
        raise invalid
    return when.astimezone(timezone.utc), event_id
