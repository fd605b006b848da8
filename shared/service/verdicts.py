"""What a provider's verdict makes of an integration: its status, code and message, and the
capabilities it keeps. Pure rules; validation.py writes what they decide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.errors import StaleValidation, catalogue_message
from ..domain.lifecycle import Status
from ..domain.models import CAPABILITIES, Integration

if TYPE_CHECKING:
    from datetime import datetime

    from ..ports import ValidationResult


def result_message(result: ValidationResult) -> str:
    base = catalogue_message(result.outcome)
    return f"{base}: {result.detail}" if result.detail else base


def verdict_message(result: ValidationResult) -> tuple[str | None, str | None]:
    """(status_code, status_message) of a verdict: a valid one says nothing unless it has a detail."""
    if result.outcome == "valid":
        return ("valid", result_message(result)) if result.detail else (None, None)
    return result.outcome, result_message(result)


def verdict_status(status: Status, result: ValidationResult) -> Status:
    """Where a verdict on the credential in force leaves an integration now in `status`."""
    if result.outcome == "valid":
        return Status.ACTIVE
    if result.outcome == "credential_expired":  # its date came, or the provider says so
        return Status.EXPIRED
    if result.transient:  # nothing known about the key
        return Status.ACTIVE if status is Status.ACTIVE else Status.ERROR
    if result.outcome == "invalid_credentials" and status in (Status.ACTIVE, Status.EXPIRED):
        return Status.EXPIRED  # it used to work: the provider revoked it
    return Status.ERROR


def promote(current: Integration, result: ValidationResult, now: datetime) -> Integration:
    """The staged credential validated: it takes over, with its capabilities. Fewer
    capabilities than before is said on the record."""
    code, message = verdict_message(result)
    lost = [c for c in CAPABILITIES if c in (current.capabilities or ()) and c not in result.capabilities]
    if lost:
        code, message = (
            "capabilities_reduced",
            f"{catalogue_message('capabilities_reduced')}: "
            + f"the credential now in force cannot read or do: {', '.join(lost)}"
            + (f"; {result.detail}" if result.detail else ""),  # what to do about it, if said
        )
    return current.moved(Status.ACTIVE, code, message, now).model_copy(
        update={
            "credential": current.rotation.promoted(),
            "rotation": None,
            "last_validated_at": now,
            "capabilities": ordered(result.capabilities),
        }
    )


def ordered(capabilities: tuple[str, ...]) -> tuple[str, ...]:
    """In the vocabulary's order, whatever order a validator listed them in."""
    return tuple(c for c in CAPABILITIES if c in capabilities)


def owned(current: Integration | None, credential_id: str, target: str) -> Integration:
    """The integration, if `credential_id` is still the one targeted; else the work is stale."""
    ref = None if current is None else current.target(target)
    if current is None or ref is None or ref.credential_id != credential_id or current.status is Status.DISABLED:
        raise StaleValidation()
    return current
