"""A credential for a cost pipeline, audited (shared/service/pipelines.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import pytest
from shared.domain.errors import (
    BadRequestError,
    DecryptionError,
    InvalidTransitionError,
    NotConfiguredError,
)
from shared.pipelines import get_credential
from tests.support.world import ORG, World, fingerprint


def test_decrypt_for_pipeline_only_for_active_and_audited(world: World) -> None:
    key = world.key("openai")
    world.setup("openai", key)
    with pytest.raises(InvalidTransitionError, match="status is pending"):
        world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "cost-pipeline")
    world.deliver_last()
    credential = world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "cost-pipeline")
    assert credential.value == key and key not in repr(credential) and key not in str(credential)
    decrypts = [e for e in world.events() if e["action"] == "decrypt"]
    assert [(e["actor"], e["outcome"]) for e in decrypts] == [
        ("cost-pipeline", "ok"),
        ("cost-pipeline", "credential_not_usable"),
    ]
    assert decrypts[0]["fingerprint"] == fingerprint(key)
    with pytest.raises(NotConfiguredError):
        world.service.pipelines.decrypt_for_pipeline(ORG, "anthropic", "cost-pipeline")


def test_pipeline_names_with_a_trailing_newline_are_refused(service_env) -> None:
    with pytest.raises(BadRequestError):
        get_credential("acme_corp", "openai", pipeline="costs\n")


def test_a_pipeline_refused_because_decryption_failed_is_on_record(world: World) -> None:
    world.active("openai")
    row = world.credential_rows()[0]
    world.service.store.replace_ciphertext(
        row.model_copy(update={"ciphertext": row.ciphertext[:-1] + bytes([row.ciphertext[-1] ^ 1])}), row.ciphertext
    )
    with pytest.raises(DecryptionError):
        world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "pipeline:costs")
    refused = world.events()[0]
    assert (refused["action"], refused["actor"], refused["outcome"]) == ("decrypt", "pipeline:costs", "internal")
