"""A credential in plaintext for a cost pipeline's run (never over HTTP; see shared/pipelines.py).

Only an `active` integration's credential is handed out, and every call, allowed or refused
for whatever reason, leaves a `decrypt` event naming the pipeline.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..domain.errors import (
    BadRequestError,
    CredentialNotUsableError,
    IntegrationsError,
    InvalidTransitionError,
    ProviderUnavailableError,
)
from ..domain.lifecycle import check_action
from ..domain.models import CAPABILITIES
from ..ports import ValidationResult
from .requests import check_org_slug

if TYPE_CHECKING:
    from .writes import Writes
    from .credentials import Credentials
    from .audit import Audit
    from ..registry import Provider, Registry
    from ..domain.aws import AwsSession
    from ..domain.models import Credential
    from ..ports import CredentialOwner
    from .external_ids import ExternalIds

# fullmatch, never match with "$": "$" also matches before a trailing newline.
PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
ACTOR_PREFIX = "pipeline:"


class PipelineAccess:
    def __init__(
        self,
        registry: Registry,
        credentials: Credentials,
        writes: Writes,
        audit: Audit,
        external_ids: ExternalIds | None = None,
    ):
        self._registry = registry
        self._credentials = credentials
        self._writes = writes
        self._audit = audit
        self._external_ids = external_ids

    def get_credential(
        self, org: str, provider_key: str, pipeline: str, needs: str | None = None
    ) -> Credential | AwsSession:
        """What `shared.pipelines.get_credential` answers: the name checked, the actor `pipeline:<name>`."""
        check_org_slug(org)
        if not isinstance(pipeline, str) or not PIPELINE_NAME.fullmatch(pipeline):
            raise BadRequestError("Pipeline name must be 1 to 63 characters of a-z, 0-9, '_', '.', '-'")
        return self.decrypt_for_pipeline(org, provider_key, ACTOR_PREFIX + pipeline, needs)

    def decrypt_for_pipeline(
        self, org: str, provider_key: str, actor: str, needs: str | None = None
    ) -> Credential | AwsSession:
        """The plaintext credential of `org`'s active `provider_key` integration, `actor` on record;
        with `needs`, only if its last validation showed that capability (e.g. "costs"). For AWS,
        never the role ARN alone: an hour of the role, assumed with the org's external ID."""
        if needs is not None and needs not in CAPABILITIES:
            raise BadRequestError("needs must be one of " + ", ".join(CAPABILITIES))
        provider = self._registry.get(provider_key)
        if provider.manual:
            raise BadRequestError(f"Provider {provider.key} is entered by hand and has no credential")
        # One read: the integration, its ciphertexts and, for AWS, the org's row (its external ID).
        seen = self._writes.snapshot(org, provider.key, credentials=True, with_org=provider.bound_to_org)
        item = seen.integration
        assert item is not None
        try:
            try:
                check_action("decrypt", item.status)
            except InvalidTransitionError as refused:
                raise CredentialNotUsableError(
                    f"{refused.message}: pipelines may only use an active integration's credential"
                ) from None
            if needs is not None and needs not in (item.capabilities or ()):
                raise CredentialNotUsableError(_cannot(needs, item.capabilities))
            credential = self._credentials.open(item, "current", seen)
            if provider.bound_to_org:
                assert self._external_ids is not None
                owner = self._external_ids.owner(org, seen.org)
                credential = self._aws_session(provider, owner, credential, actor.removeprefix(ACTOR_PREFIX))
        except IntegrationsError as refused:  # every refusal is on record, whatever its cause
            self._audit.record(
                item, "decrypt", actor, refused.code, item.fingerprint, {"needs": needs} if needs else {}
            )
            raise
        details = {"version": item.credential.version, **({"needs": needs} if needs else {})}
        self._audit.record(item, "decrypt", actor, "ok", item.fingerprint, details)
        return credential

    def _aws_session(
        self, provider: Provider, owner: CredentialOwner, credential: Credential, pipeline: str
    ) -> AwsSession:
        answer = self._credentials.validator(provider).assume(credential, owner, pipeline)
        if not isinstance(answer, ValidationResult):
            return answer
        if answer.transient:
            raise ProviderUnavailableError(f"Provider unavailable: {answer.detail}")
        raise CredentialNotUsableError(f"AWS refused the role: {answer.detail}")


def _cannot(needs: str, capabilities: tuple[str, ...] | None) -> str:
    shown = ", ".join(capabilities) if capabilities else "none"
    hint = (
        " (for OpenAI and Anthropic only an Admin key, sk-admin-... or sk-ant-admin01-..., reads costs and usage)"
        if needs in ("costs", "usage")
        else ""
    )
    return (
        f"The credential was not shown to have '{needs}' (its capabilities: {shown}): set up or rotate "
        f"to a credential that has it{hint}; GET /{{org}}/{{provider}}/setup says what to paste"
    )
