"""Sealing and opening credentials, bound to their owner (shared/service/credentials.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

from pathlib import Path
import pytest
from shared.adapters.local_keyring import LocalKeyring
from shared.domain.errors import (
    DecryptionError,
    EncryptionError,
)
from shared.service.credentials import associated_data
import pytest
from shared.domain.errors import (
    DecryptionError,
)
from tests.support.faults import FailingCipher
from tests.support.world import ORG, World


def test_encryption_failure_stores_nothing(make_world, tmp_path: Path) -> None:
    cipher = FailingCipher(LocalKeyring(tmp_path / "kr" / "keyring.json"))
    world = make_world(cipher=cipher)
    key = world.key("openai")
    with pytest.raises(EncryptionError) as caught:
        world.setup("openai", key)
    assert caught.value.status == 502 and caught.value.message == "Credential encryption failed"
    assert world.stored() is None and world.credential_rows() == [] and world.queue.messages == []
    # With an integration in force, a failed replacement leaves it untouched.
    cipher.fail = False
    world.setup("openai", key, wait=True)
    before = world.stored()
    cipher.fail = True
    with pytest.raises(EncryptionError):
        world.setup("openai", world.key("openai"))
    with pytest.raises(EncryptionError):
        world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    assert world.stored() == before and len(world.credential_rows()) == 1


def test_ciphertext_is_bound_to_org_provider_version_and_credential_id(world: World) -> None:
    key = world.active("openai")
    [row] = world.credential_rows()
    cipher = world.service.cipher
    assert cipher.decrypt(row.ciphertext, associated_data(ORG, "openai", 1, row.credential_id)) == key.encode()
    other_id = "0" * 32
    for ad in (
        associated_data("other_org", "openai", 1, row.credential_id),
        associated_data(ORG, "deepseek", 1, row.credential_id),
        associated_data(ORG, "openai", 2, row.credential_id),
        associated_data(ORG, "openai", 1, other_id),
    ):
        with pytest.raises(DecryptionError):
            cipher.decrypt(row.ciphertext, ad)


def test_a_ciphertext_moved_to_another_org_does_not_decrypt(world: World) -> None:
    world.active("openai")
    [row] = world.credential_rows()
    other_key = world.service.orgs.create_org("other_org")
    other = world.service.orgs.authenticate(other_key, "other_org")
    world.service.setups.setup(other, "openai", {"credential": world.key("openai")}, wait=True)
    [other_row] = [r for r in world.credential_rows() if r.org == "other_org"]
    # An attacker with write access to the table copies acme's blob into other_org's row.
    assert world.service.store.replace_ciphertext(
        other_row.model_copy(update={"ciphertext": row.ciphertext}), other_row.ciphertext
    )
    with pytest.raises(DecryptionError):
        world.service.pipelines.decrypt_for_pipeline("other_org", "openai", "test")
