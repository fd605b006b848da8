"""A provider's verdict on a credential, and whose credential a check is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal[
    "valid", "invalid_credentials", "missing_permissions", "credential_expired", "rate_limited", "provider_unavailable"
]
TRANSIENT_OUTCOMES: frozenset[str] = frozenset({"rate_limited", "provider_unavailable"})


@dataclass(frozen=True)
class ValidationResult:
    """A provider's verdict. `detail` is shown after the catalogue message; never a secret.

    `capabilities`: what a valid credential was shown to do, from CAPABILITIES (empty unless
    the outcome is valid); the integration keeps them as those of the credential in force.
    `remark`: what the check saw that is routine (said on the audit event only), where `detail`
    of a valid verdict is worth the integration's status message."""

    outcome: Outcome
    detail: str | None = None
    capabilities: tuple[str, ...] = ()
    remark: str | None = None

    @property
    def transient(self) -> bool:
        return self.outcome in TRANSIENT_OUTCOMES


@dataclass(frozen=True)
class CredentialOwner:
    """Whose credential a check is about, for a provider whose check is bound to the org (AWS:
    the org names the role session and its external ID goes with every AssumeRole)."""

    org: str
    aws_external_id: str | None = None
