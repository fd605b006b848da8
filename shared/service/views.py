"""What a client sees of the records: the integration object, a not-configured entry of the
list, an audit event. A fingerprint's first 8 hex characters and a masked hint; never a
plaintext credential, a ciphertext or a full fingerprint."""

from __future__ import annotations

from typing import Any

from ..domain.lifecycle import Status
from ..domain.models import Event, Integration, iso


def integration_view(item: Integration) -> dict[str, Any]:
    cred = item.credential
    rot = item.rotation
    return {
        "org": item.org,
        "provider": item.provider,
        "category": item.category,
        "name": item.name,
        "status": item.status.value,
        "status_code": item.status_code,
        "status_message": item.status_message,
        "credential": None
        if cred is None
        else {
            "fingerprint": cred.fingerprint[:8],
            "hint": cred.hint,
            "version": cred.version,
            "created_at": iso(cred.created_at),
            "expires_at": cred.expires_at.isoformat() if cred.expires_at else None,
        },
        "rotation": None
        if rot is None
        else {"version": rot.version, "status": rot.status, "message": rot.message, "created_at": iso(rot.created_at)},
        "config": item.config,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "last_validated_at": iso(item.last_validated_at),
        "capabilities": None if item.capabilities is None else list(item.capabilities),
    }


def not_configured_view(org: str, provider: str, category: str, name: str) -> dict[str, Any]:
    return {
        "org": org,
        "provider": provider,
        "category": category,
        "name": name,
        "status": Status.NOT_CONFIGURED.value,
        "status_code": None,
        "status_message": None,
        "credential": None,
        "rotation": None,
        "config": None,
        "created_at": None,
        "updated_at": None,
        "last_validated_at": None,
        "capabilities": None,
    }


def event_view(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "action": event.action,
        "actor": event.actor,
        "outcome": event.outcome,
        "fingerprint": event.fingerprint,
        "details": event.details,
    }
