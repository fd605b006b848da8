"""Re-encrypting under the primary key version (shared/service/rewrap.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

from shared.adapters.local_keyring import LocalKeyring
from tests.support.world import ORG, World


def test_rewrap_after_keyring_rotation(world: World) -> None:
    keys = {p: world.active(p) for p in ("openai", "anthropic", "gemini")}
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai", "invalid")}, wait=True)
    keyring: LocalKeyring = world.service.cipher
    old_version = keyring.primary_key_version()
    new_version = keyring.rotate()
    assert new_version != old_version and keyring.primary_key_version() == new_version
    report = world.service.rewrap.run(batch_size=2)
    assert report["rewrapped"] == 4 and report["primary"] == new_version
    assert report["by_key_version"] == {new_version: 4}
    assert {r.key_version for r in world.credential_rows()} == {new_version}
    for provider, key in keys.items():
        assert world.service.pipelines.decrypt_for_pipeline(ORG, provider, "test").value == key
    again = world.service.rewrap.run()
    assert again["rewrapped"] == 0 and again["by_key_version"] == {new_version: 4}
