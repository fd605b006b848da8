"""Records the use cases read and write, and what an integration may do with itself.

`Integration` and `CredentialRecord` are what the store holds. What a client sees of them
is in shared/service/views.py (a fingerprint prefix and a hint, never plaintext or ciphertext).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from typing import Any, Callable, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from .lifecycle import Status, check_transition


# What a credential can be shown to do (API: `capabilities`); the cost pipelines need "costs".
CAPABILITIES = ("inference", "costs", "usage", "balance")


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond (what every store keeps)."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Model(BaseModel):
    """Base of the domain models: each builds its validator on first use, not at import
    (a cold start pays only for the models its first request touches)."""

    model_config = ConfigDict(defer_build=True)


class Org(Model):
    slug: str
    api_key_id: str
    api_key_hash: str
    created_at: datetime


T = TypeVar("T")


class _Memo(dict):  # type: ignore[type-arg]
    """A cache, not state: it never makes two credentials compare unequal."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Memo)

    __hash__ = None  # type: ignore[assignment]


class Credential(Model):
    """A plaintext credential in memory, for the length of one request or validation.

    `secret` is a SecretStr so it never shows in a repr, a log line or a traceback.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    secret: SecretStr
    kind: Literal["api_key", "service_account", "azure_service_principal"] = "api_key"
    # Values derived from the secret that cost to rebuild (a parsed private key); never in a repr.
    _memo: _Memo = PrivateAttr(default_factory=_Memo)

    def memo(self, name: str, factory: Callable[[], T]) -> T:
        """`factory()` computed once per Credential object (a failure is not kept: it raises again)."""
        entry = self._memo.get(name)
        # A model_copy shares the cache: an entry counts only for the very secret it was made from.
        if entry is None or entry[0] is not self.secret:
            entry = (self.secret, factory())
            self._memo[name] = entry
        return entry[1]

    @property
    def value(self) -> str:
        return self.secret.get_secret_value()

    def as_service_account(self) -> dict[str, Any]:
        return json.loads(self.value)

    def as_service_principal(self) -> dict[str, str]:
        """An Azure service principal: `{"tenant_id", "client_id", "client_secret"}`."""
        return json.loads(self.value)

    def fingerprint(self) -> str:
        """SHA-256 hex of the key's UTF-8 bytes, or of the canonical JSON of a service account."""
        return hashlib.sha256(self.value.encode("utf-8")).hexdigest()

    def hint(self) -> str:
        if self.kind == "service_account":
            info = self.as_service_account()
            return f"{info.get('client_email', '?')} key {str(info.get('private_key_id', ''))[:8]}"
        if self.kind == "azure_service_principal":
            return f"client {self.as_service_principal().get('client_id', '?')}"  # an id, never the secret
        value = self.value
        prefix = next((p for p in ("sk-ant-", "sk-", "AIza") if value.startswith(p)), "")
        return f"{prefix}...{value[-4:]}"

    @classmethod
    def service_account(cls, info: dict[str, Any]) -> "Credential":
        canonical = json.dumps(info, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return cls(secret=SecretStr(canonical), kind="service_account")

    @classmethod
    def service_principal(cls, info: dict[str, Any]) -> "Credential":
        """An Azure service principal, canonical JSON like a service account; its ids in lower
        case (Azure prints GUIDs both ways), so one principal has one fingerprint."""
        info = {k: v.lower() if k in ("tenant_id", "client_id") and isinstance(v, str) else v for k, v in info.items()}
        canonical = json.dumps(info, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return cls(secret=SecretStr(canonical), kind="azure_service_principal")

    def __repr__(self) -> str:  # pragma: no cover - SecretStr already masks; belt and braces
        return f"Credential(kind={self.kind!r}, secret='**********')"

    __str__ = __repr__


class CredentialRecord(Model):
    """One stored credential version: ciphertext plus what identifies it."""

    org: str
    provider: str
    credential_id: str
    version: int
    ciphertext: bytes
    key_version: str
    fingerprint: str
    hint: str
    created_at: datetime

    def ref(self) -> "CredentialRef":
        """What an integration keeps of its credential row."""
        return CredentialRef(
            credential_id=self.credential_id,
            version=self.version,
            fingerprint=self.fingerprint,
            hint=self.hint,
            created_at=self.created_at,
        )


class CredentialRef(Model):
    credential_id: str
    version: int
    fingerprint: str
    hint: str
    created_at: datetime
    # The day the credential stops working, when known (API: `expires_at`); the daily
    # revalidation warns once ahead of it (`expiry_warned_at`) and expires it on that day.
    expires_at: date | None = None
    expiry_warned_at: datetime | None = None


class Rotation(Model):
    credential_id: str
    version: int
    status: Literal["pending", "validating", "failed"]
    message: str | None = None
    fingerprint: str
    hint: str
    created_at: datetime
    expires_at: date | None = None

    def promoted(self) -> CredentialRef:
        """The staged credential, as the one in force."""
        return CredentialRef(
            credential_id=self.credential_id,
            version=self.version,
            fingerprint=self.fingerprint,
            hint=self.hint,
            created_at=self.created_at,
            expires_at=self.expires_at,
        )


class Integration(Model):
    org: str
    provider: str
    category: str
    name: str
    status: Status
    status_code: str | None = None
    status_message: str | None = None
    credential: CredentialRef | None = None
    rotation: Rotation | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None = None
    # What the credential in force was shown to do at its last successful validation (CAPABILITIES);
    # None before any, and for manual entries.
    capabilities: tuple[str, ...] | None = None
    # Compare-and-set counter: every write checks it and bumps it.
    revision: int = 0

    @classmethod
    def new(cls, org: str, provider: str, category: str, name: str, now: datetime) -> "Integration":
        """A fresh integration, not configured yet: the use case moves it to its first status."""
        return cls(
            org=org,
            provider=provider,
            category=category,
            name=name,
            status=Status.NOT_CONFIGURED,
            created_at=now,
            updated_at=now,
        )

    def moved(self, status: Status, code: str | None, message: str | None, now: datetime) -> "Integration":
        """This integration in `status` (the lifecycle permitting), with why."""
        check_transition(self.status, status)
        return self.model_copy(
            update={"status": status, "status_code": code, "status_message": message, "updated_at": now}
        )

    def target(self, target: str) -> "CredentialRef | Rotation | None":
        """The credential in force ("current") or the staged one ("rotation")."""
        return self.rotation if target == "rotation" else self.credential

    def credential_ids(self) -> frozenset[str]:
        """Every ciphertext row this integration owns: the one in force and a staged one."""
        return frozenset(c.credential_id for c in (self.credential, self.rotation) if c)

    @property
    def fingerprint(self) -> str | None:
        return self.credential.fingerprint if self.credential else None


class Event(Model):
    id: str
    org: str
    provider: str
    at: datetime
    action: str
    actor: str
    outcome: str
    fingerprint: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ValidationMessage(Model):
    """What the queue carries: names a credential, never holds one."""

    kind: Literal["validate", "revalidate"] = "validate"
    org: str | None = None
    provider: str | None = None
    version: int | None = None
    credential_id: str | None = None
