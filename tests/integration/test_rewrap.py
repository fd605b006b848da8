"""Rewrap and the ciphertext binding, on the local keyring and on Cloud KMS (the gRPC stand-in).

The service is the one the functions use (settings from the environment, built by
shared.container), on SQLite; the CLI runs as a real subprocess with the same settings.

- An older ciphertext of the same org, provider and version (versions repeat after a failed
  rotation) swapped into a row does not decrypt: ciphertexts are bound to the credential id.
- Rows sealed under the legacy binding (before the credential id) are refused by a normal
  decrypt; `rewrap --legacy-binding` re-seals them, a plain rewrap names them.
- `rewrap` skips a row it cannot decrypt, names it (org, provider, credential id, why: never a
  secret), rewraps every other row, and exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from shared.adapters.cloudkms_cipher import CloudKmsCipher
from shared.adapters.local_keyring import LocalKeyring
from shared.domain.errors import DecryptionError
from shared.ports import Cipher
from shared.service.rewrap import LEGACY_HINT
from shared.service.credentials import associated_data, legacy_associated_data
from tests.support.doubles import ROOT
from tests.support.kms_server import DEFAULT_KEY, kms_server  # noqa: F401 (fixture)
from tests.support.provider_servers import anthropic_key, gemini_key, openai_key

ORG, OTHER_ORG = "acme_corp", "globex_corp"
OTHER_KEY = DEFAULT_KEY.replace("cryptoKeys/", "cryptoKeys/another-")


@dataclass
class Backend:
    name: str
    rotate_master_key: Callable[[], str]
    foreign: Callable[[], Cipher]  # another keyring file / another KMS key


@pytest.fixture(params=["local", "cloudkms"])
def backend(request: pytest.FixtureRequest, service_env: Any, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        yield Backend(
            "local",
            lambda: service_env.service.cipher.rotate(),
            lambda: LocalKeyring(tmp_path / "another" / "keyring.json"),
        )
        return
    kms = request.getfixturevalue("kms_server")
    service_env.set(KMS_BACKEND="gcp", KMS_KEY_NAME=DEFAULT_KEY, KMS_ENDPOINT=kms.endpoint)
    built: list[CloudKmsCipher] = []

    def foreign() -> Cipher:
        built.append(CloudKmsCipher(kms.add_key(OTHER_KEY), endpoint=kms.endpoint, timeout_seconds=5.0))
        return built[-1]

    yield Backend("cloudkms", lambda: kms.rotate(DEFAULT_KEY), foreign)
    for cipher in built:
        cipher.close()


def active(service_env: Any, actor: Any, provider: str, make: Callable[[], str]) -> str:
    key = getattr(service_env.servers, provider).set(make(), "valid")
    assert service_env.service.setups.setup(actor, provider, {"credential": key}, wait=True)["status"] == "active"
    return key


def row_of(service: Any, org: str, provider: str, credential_id: str) -> Any:
    return service.store.get_credential(org, provider, credential_id)


def swap(service: Any, record: Any, ciphertext: bytes) -> None:
    assert service.store.replace_ciphertext(record.model_copy(update={"ciphertext": ciphertext}), record.ciphertext)


def run_rewrap(*args: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "rewrap", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, json.loads(lines[-1]) if lines else {}, done.stdout + done.stderr


# ---------------------------------------------------------------- item 16: the binding


def test_an_older_ciphertext_of_the_same_version_does_not_decrypt(backend: Backend, service_env: Any) -> None:
    service = service_env.service
    actor = service.orgs.authenticate(service_env.create_org(ORG), ORG)
    active(service_env, actor, "openai", openai_key)
    rejected = service_env.servers.openai.set(openai_key(), "invalid")
    failed = service.setups.rotate(actor, "openai", {"credential": rejected}, wait=True)
    assert failed["rotation"]["status"] == "failed" and failed["rotation"]["version"] == 2
    old = row_of(service, ORG, "openai", service.store.get_integration(ORG, "openai").rotation.credential_id)
    accepted = service_env.servers.openai.set(openai_key(), "valid")
    assert service.setups.rotate(actor, "openai", {"credential": accepted}, wait=True)["status"] == "active"
    current = service.store.get_integration(ORG, "openai").credential
    assert current.version == old.version == 2 and current.credential_id != old.credential_id

    record = row_of(service, ORG, "openai", current.credential_id)
    swap(service, record, old.ciphertext)  # the rejected key's ciphertext, same org/provider/version
    with pytest.raises(DecryptionError):
        service.pipelines.decrypt_for_pipeline(ORG, "openai", "costs")
    with pytest.raises(DecryptionError):
        service.setups.validate(actor, "openai")
    swap(service, row_of(service, ORG, "openai", current.credential_id), record.ciphertext)
    assert service.pipelines.decrypt_for_pipeline(ORG, "openai", "costs").value == accepted


def seal_with_legacy_binding(service: Any, org: str, provider: str) -> None:
    """Make a row look as if sealed before credential ids were bound (the v1 binding)."""
    item = service.store.get_integration(org, provider)
    record = row_of(service, org, provider, item.credential.credential_id)
    plaintext = service.cipher.decrypt(
        record.ciphertext, associated_data(org, provider, record.version, record.credential_id)
    )
    swap(
        service,
        record,
        service.cipher.encrypt(plaintext, legacy_associated_data(org, provider, record.version)).ciphertext,
    )


def test_legacy_binding_is_refused_and_rewrap_re_seals_it_when_asked(backend: Backend, service_env: Any) -> None:
    service = service_env.service
    actor = service.orgs.authenticate(service_env.create_org(ORG), ORG)
    keys = {
        "openai": active(service_env, actor, "openai", openai_key),
        "gemini": active(service_env, actor, "gemini", gemini_key),
        "anthropic": active(service_env, actor, "anthropic", anthropic_key),
    }
    for provider in ("openai", "gemini"):
        seal_with_legacy_binding(service, ORG, provider)
        with pytest.raises(DecryptionError):  # never a fallback to the old binding
            service.pipelines.decrypt_for_pipeline(ORG, provider, "costs")

    code, report, _ = run_rewrap()  # everything under the primary version: nothing to do
    assert (code, report["rewrapped"], report["failed"]) == (0, 0, [])
    backend.rotate_master_key()
    code, report, output = run_rewrap()  # the legacy rows are named, not re-sealed
    assert code == 1 and report["rewrapped"] == 1 and report["rebound"] == 0
    assert sorted((f["provider"], f["reason"]) for f in report["failed"]) == [
        ("gemini", f"does not decrypt: {LEGACY_HINT}"),
        ("openai", f"does not decrypt: {LEGACY_HINT}"),
    ]

    code, report, output = run_rewrap("--legacy-binding")
    assert (code, report["rewrapped"], report["rebound"], report["failed"]) == (0, 2, 2, [])
    assert report["by_key_version"] == {report["primary"]: 3}
    for provider, key in keys.items():
        assert service.pipelines.decrypt_for_pipeline(ORG, provider, "costs").value == key
        assert key not in output
    code, report, _ = run_rewrap("--legacy-binding")
    assert (code, report["rewrapped"], report["failed"]) == (0, 0, [])


# ---------------------------------------------------------------- item 6: rewrap names what it skips


def test_rewrap_skips_and_reports_what_it_cannot_decrypt_and_rewraps_the_rest(
    backend: Backend, service_env: Any
) -> None:
    service = service_env.service
    actors = {org: service.orgs.authenticate(service_env.create_org(org), org) for org in (ORG, OTHER_ORG)}
    keys = {
        (org, provider): active(service_env, actor, provider, make)
        for org, actor in actors.items()
        for provider, make in (("anthropic", anthropic_key), ("gemini", gemini_key), ("openai", openai_key))
    }
    rows = {(r.org, r.provider): r for r in service.store.list_credentials(None, 100)}
    tampered, foreign = rows[(ORG, "anthropic")], rows[(ORG, "gemini")]  # first in rewrap's order
    flipped = bytearray(tampered.ciphertext)
    flipped[len(flipped) // 2] ^= 0x01
    swap(service, tampered, bytes(flipped))
    ad = associated_data(ORG, "gemini", foreign.version, foreign.credential_id)
    swap(service, foreign, backend.foreign().encrypt(keys[(ORG, "gemini")].encode(), ad).ciphertext)
    backend.rotate_master_key()

    code, report, output = run_rewrap("--batch-size", "2")
    assert code == 1, output
    assert "2 credential(s) could not be rewrapped" in output
    assert report["rewrapped"] == 4 and report["by_key_version"][report["primary"]] == 4
    failed = {(f["org"], f["provider"], f["credential_id"]): f for f in report["failed"]}
    assert set(failed) == {(ORG, "anthropic", tampered.credential_id), (ORG, "gemini", foreign.credential_id)}
    reasons = [f["reason"] for f in failed.values()]
    assert all(r.startswith("does not decrypt: ") for r in reasons)
    if backend.name == "local":
        assert failed[(ORG, "gemini", foreign.credential_id)]["reason"].startswith(
            "does not decrypt: sealed by keyring "
        )
        assert "authentication failed" in failed[(ORG, "anthropic", tampered.credential_id)]["reason"]
    for (org, provider), key in keys.items():
        assert key not in output
        if (org, provider) not in ((ORG, "anthropic"), (ORG, "gemini")):
            assert service.pipelines.decrypt_for_pipeline(org, provider, "costs").value == key
            assert row_of(service, org, provider, rows[(org, provider)].credential_id).key_version == report["primary"]
