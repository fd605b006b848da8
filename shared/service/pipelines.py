"""A credential in plaintext for a cost pipeline's run (never over HTTP; see shared/pipelines.py).

Only an `active` integration's credential is handed out, and every call, allowed or refused
for whatever reason, leaves a `decrypt` event naming the pipeline.
"""

from __future__ import annotations

import re

from ..domain.errors import BadRequestError, CredentialNotUsableError, IntegrationsError, InvalidTransitionError
from ..domain.lifecycle import check_action
from .requests import check_org_slug
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .writes import Writes
    from .credentials import Credentials
    from .audit import Audit
    from ..registry import Registry
    from ..domain.models import Credential

# fullmatch, never match with "$": "$" also matches before a trailing newline.
PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
ACTOR_PREFIX = "pipeline:"


class PipelineAccess:
    def __init__(self, registry: Registry, credentials: Credentials, writes: Writes, audit: Audit):
        self._registry = registry
        self._credentials = credentials
        self._writes = writes
        self._audit = audit

    def get_credential(self, org: str, provider_key: str, pipeline: str) -> Credential:
        """What `shared.pipelines.get_credential` answers: the name checked, the actor `pipeline:<name>`."""
        check_org_slug(org)
        if not isinstance(pipeline, str) or not PIPELINE_NAME.fullmatch(pipeline):
            raise BadRequestError("Pipeline name must be 1 to 63 characters of a-z, 0-9, '_', '.', '-'")
        return self.decrypt_for_pipeline(org, provider_key, ACTOR_PREFIX + pipeline)

    def decrypt_for_pipeline(self, org: str, provider_key: str, actor: str) -> Credential:
        """The plaintext credential of `org`'s active `provider_key` integration, `actor` on record."""
        provider = self._registry.get(provider_key)
        if provider.manual:
            raise BadRequestError(f"Provider {provider.key} is entered by hand and has no credential")
        item = self._writes.require(org, provider.key)
        try:
            try:
                check_action("decrypt", item.status)
            except InvalidTransitionError as refused:
                raise CredentialNotUsableError(
                    f"{refused.message}: pipelines may only use an active integration's credential"
                ) from None
            credential = self._credentials.open(item, "current")
        except IntegrationsError as refused:  # every refusal is on record, whatever its cause
            self._audit.record(item, "decrypt", actor, refused.code, item.fingerprint, {})
            raise
        self._audit.record(item, "decrypt", actor, "ok", item.fingerprint, {"version": item.credential.version})
        return credential
