"""Credentials in and out of their ciphertext: the format checks before anything is stored,
sealing a new credential, opening a stored one, collecting ciphertext nothing references.

Ciphertext is bound (associated data) to org, provider, credential version and credential
id: a blob copied to another row does not decrypt, nor does an older ciphertext of the same
version (versions repeat after a failed rotation).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, TYPE_CHECKING

from ..domain.errors import InvalidFormatError, NotConfiguredError
from ..domain.models import Credential, CredentialRecord, Integration

if TYPE_CHECKING:
    from ..registry import Provider, Registry
    from ..ports import Cipher, Snapshot, Store, Validator

log = logging.getLogger(__name__)

# Orphan ciphertext (a write that died half-way on a store without multi-table transactions)
# is collected once this old: no write in flight can own it any more.
ORPHAN_AGE = timedelta(minutes=15)
# Credential kinds stored as canonical JSON (the rest are a key's text).
JSON_KINDS = ("service_account", "azure_service_principal")


def associated_data(org: str, provider: str, version: int, credential_id: str) -> bytes:
    """What a ciphertext is bound to: a blob copied to another row does not decrypt, nor does an
    older ciphertext of the same org, provider and version (versions repeat after a failed rotation)."""
    return f"integrations/v2|{org}|{provider}|{version}|{credential_id}".encode()


def legacy_associated_data(org: str, provider: str, version: int) -> bytes:
    """The binding before credential ids. Never accepted by a normal decrypt; only
    `rewrap --legacy-binding` reads it, to seal such rows again under the current binding."""
    return f"integrations/v1|{org}|{provider}|{version}".encode()


class Credentials:
    def __init__(
        self,
        store: Store,
        cipher: Cipher,
        registry: Registry,
        validators: Callable[[str], Validator],
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._cipher = cipher
        self._registry = registry
        self._validators = validators
        self._clock = clock

    def validator(self, provider: Provider) -> Validator:
        return self._validators(provider.validator)

    def check_format(self, provider: Provider, credential: Credential, config: dict[str, Any]) -> None:
        """The catalogue's message word for word; which part failed (never its value) goes to the log."""
        try:
            self.validator(provider).check_format(credential, config)
        except InvalidFormatError as error:
            log.info("credential format rejected", extra={"fields": {"reason": error.message}})
            raise InvalidFormatError() from None

    def check_key(self, provider: Provider, credential: Credential, config: dict[str, Any]) -> None:
        """The expensive rest of the format check (parsing a private key), paid only by a request
        that passed the cheap checks, the lifecycle and the rate limit."""
        try:
            self.validator(provider).check_key(credential, config)
        except InvalidFormatError as error:
            log.info("credential key rejected", extra={"fields": {"reason": error.message}})
            raise InvalidFormatError() from None

    def seal(self, org: str, provider: str, credential: Credential, version: int) -> CredentialRecord:
        """Encrypt, bound to its owner; EncryptionError means nothing was stored."""
        credential_id = uuid.uuid4().hex
        sealed = self._cipher.encrypt(
            credential.value.encode("utf-8"), associated_data(org, provider, version, credential_id)
        )
        return CredentialRecord(
            org=org,
            provider=provider,
            credential_id=credential_id,
            version=version,
            ciphertext=sealed.ciphertext,
            key_version=sealed.key_version,
            fingerprint=credential.fingerprint(),
            hint=credential.hint(),
            created_at=self._clock(),
        )

    def open(self, item: Integration, target: str, seen: Snapshot | None = None) -> Credential:
        """The plaintext of the credential in force ("current") or the staged one ("rotation"),
        its ciphertext from `seen` (a read that fetched the org/provider's ciphertexts) if there."""
        ref = item.target(target)
        assert ref is not None
        record = seen.credential(ref.credential_id) if seen is not None else None
        if record is None:
            record = self._store.get_credential(item.org, item.provider, ref.credential_id)
        if record is None:
            raise NotConfiguredError("Integration not configured: its stored credential is missing, set it up again")
        plaintext = self._cipher.decrypt(
            record.ciphertext, associated_data(item.org, item.provider, record.version, record.credential_id)
        )
        kind = self._registry.get(item.provider).credential
        return Credential(secret=plaintext.decode("utf-8"), kind=kind if kind in JSON_KINDS else "api_key")

    def orphans(self, seen: Snapshot) -> frozenset[str]:
        """Ciphertexts of the read org/provider that its integration does not reference, old
        enough that no write in flight can own them: a change destroys them with its own (the
        daily recovery sweeps every org too). Once unreferenced, an id is never referenced again."""
        held = seen.integration.credential_ids() if seen.integration else frozenset()
        before = self._clock() - ORPHAN_AGE
        return frozenset(
            r.credential_id for r in seen.credentials if r.credential_id not in held and r.created_at < before
        )
