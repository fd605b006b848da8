"""Re-encrypting stored credentials: `python -m shared.cli rewrap [--legacy-binding]`.

Each ciphertext under a key version other than the primary one is decrypted and sealed again
under the primary, then swapped in by compare-and-set (a row changed meanwhile is left to its
writer). A row that cannot be decrypted or sealed is skipped and reported (org, provider,
credential id, why: the cipher's reason, never a secret); the run goes on with the rest.

The binding. Ciphertexts are bound (associated data) to org, provider, version and credential
id; those sealed before the credential id was bound carry the legacy binding, which a normal
decrypt refuses. `legacy_binding=True` (once, after upgrading) also re-seals those: it decrypts
every row under the current binding first and, when that fails, under the legacy one.
Trade-off: that run costs one decrypt per row (a Cloud KMS call each), even for rows already
right; a marker (a store column or a ciphertext prefix) would spare those calls but costs a
schema change, and proves nothing anyway, since whoever can swap a ciphertext can strip a
marker too. Accepting the legacy binding only when asked keeps it from laundering an old
ciphertext swapped in later: without the flag, a legacy row is reported, never re-sealed.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from ..domain.errors import DecryptionError, EncryptionError, IntegrationsError
from ..domain.errors import CipherFailure
from .credentials import associated_data, legacy_associated_data

if TYPE_CHECKING:
    from ..domain.models import CredentialRecord
    from ..ports import Cipher, Store

LEGACY_HINT = "sealed under the legacy binding (before credential ids were bound): run rewrap --legacy-binding"


class Rewrap:
    def __init__(self, store: Store, cipher: Cipher):
        self._store = store
        self._cipher = cipher

    def run(self, batch_size: int = 100, legacy_binding: bool = False) -> dict[str, Any]:
        """Rewrap every stored credential; the report counts per key version and lists failures."""
        return rewrap(self._store, self._cipher, batch_size, legacy_binding)


def rewrap(store: Store, cipher: Cipher, batch_size: int = 100, legacy_binding: bool = False) -> dict[str, Any]:
    """Rewrap every stored credential; the report counts per key version and lists failures."""
    primary = cipher.primary_key_version()
    report: dict[str, Any] = {
        "primary": primary,
        "rewrapped": 0,
        "rebound": 0,
        "skipped_changed": 0,
        "by_key_version": {},
        "failed": [],
    }
    after: tuple[str, str, str] | None = None
    while True:
        page = store.list_credentials(after, batch_size)
        for record in page:
            version = _rewrap_one(store, cipher, record, primary, legacy_binding, report)
            report["by_key_version"][version] = report["by_key_version"].get(version, 0) + 1
        if len(page) < batch_size:
            return report
        last = page[-1]
        after = (last.org, last.provider, last.credential_id)


def _rewrap_one(
    store: Store, cipher: Cipher, record: CredentialRecord, primary: str, legacy_binding: bool, report: dict[str, Any]
) -> str:
    """Bring one row to the primary version and the current binding; return its key version after."""
    if record.key_version == primary and not legacy_binding:
        return record.key_version
    ad = associated_data(record.org, record.provider, record.version, record.credential_id)
    try:
        plaintext, bound = _open(cipher, record, ad, legacy_binding)
    except _Unreadable as failure:
        report["failed"].append(_failed(record, f"does not decrypt: {failure}"))
        return record.key_version
    if bound and record.key_version == primary:
        return record.key_version
    try:
        sealed = cipher.encrypt(plaintext, ad)
    except EncryptionError as error:
        report["failed"].append(_failed(record, f"could not be encrypted again: {_why(error)}"))
        return record.key_version
    finally:
        del plaintext
    if not store.replace_ciphertext(
        record.model_copy(update={"ciphertext": sealed.ciphertext, "key_version": sealed.key_version}),
        record.ciphertext,
    ):
        report["skipped_changed"] += 1
        return record.key_version
    report["rewrapped"] += 1
    report["rebound"] += not bound
    return sealed.key_version


class _Unreadable(Exception):
    """Why a row does not decrypt (a cipher's reason: never a secret)."""


def _open(cipher: Cipher, record: CredentialRecord, ad: bytes, legacy_binding: bool) -> tuple[bytes, bool]:
    """(plaintext, sealed under the current binding?). A legacy row opens only when asked;
    otherwise it is named as such so the operator knows the fix."""
    try:
        return cipher.decrypt(record.ciphertext, ad), True
    except DecryptionError as error:
        reason = _why(error)
    try:
        plaintext = cipher.decrypt(
            record.ciphertext, legacy_associated_data(record.org, record.provider, record.version)
        )
    except DecryptionError:
        raise _Unreadable(reason) from None
    if legacy_binding:
        return plaintext, False
    del plaintext
    raise _Unreadable(LEGACY_HINT)


def _why(error: IntegrationsError) -> str:
    cause = error.__cause__
    return str(cause) if isinstance(cause, CipherFailure) else error.message


def _failed(record: CredentialRecord, reason: str) -> dict[str, str]:
    return {
        "org": record.org,
        "provider": record.provider,
        "credential_id": record.credential_id,
        "key_version": record.key_version,
        "reason": reason,
    }
