"""The one way a cost pipeline gets a provider credential in plaintext (never over HTTP).

    from shared.pipelines import get_credential

    credential = get_credential("acme_corp", "openai", pipeline="openai-costs-daily")
    client = OpenAI(api_key=credential.value)                   # API keys
    info = get_credential("acme_corp", "gcp", "gcp-billing").as_service_account()  # GCP

It uses the service built from the environment (shared.container.get_service: the same
settings, store and KMS key as the functions). Only an `active` integration is decrypted;
every call, allowed or refused, leaves a `decrypt` event in the integration's audit trail
with actor `pipeline:<name>`. See docs/pipelines.md.
"""

from __future__ import annotations

import re

from .domain.errors import BadRequestError, InvalidTransitionError
from .domain.models import Credential

# fullmatch, never match with "$": "$" also matches before a trailing newline.
PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
ACTOR_PREFIX = "pipeline:"


class CredentialNotUsableError(InvalidTransitionError):
    """The integration exists but is not `active`: pipelines must not use its credential."""


def get_credential(org: str, provider: str, pipeline: str) -> Credential:
    """The plaintext credential of the active integration `org`/`provider`, for `pipeline`.

    Returns a `Credential` (its secret is a SecretStr: `.value` for the text,
    `.as_service_account()` for a GCP key file as a dict; repr and str are masked).

    Raises (all `IntegrationsError`, none carrying the credential):
    - `BadRequestError`: a malformed org slug or pipeline name, or a manually entered
      (SaaS) provider, which has no credential;
    - `UnknownProviderError`: a provider not in the registry;
    - `NotConfiguredError`: no integration (or its stored credential is gone);
    - `CredentialNotUsableError` (an `InvalidTransitionError`): status pending, validating,
      error, expired or disabled;
    - `DecryptionError`: KMS refused or the ciphertext does not match its integration.
    """
    from .container import get_service
    from .service import check_org_slug

    check_org_slug(org)
    if not isinstance(pipeline, str) or not PIPELINE_NAME.fullmatch(pipeline):
        raise BadRequestError("Pipeline name must be 1 to 63 characters of a-z, 0-9, '_', '.', '-'")
    try:
        return get_service().decrypt_for_pipeline(org, provider, ACTOR_PREFIX + pipeline)
    except CredentialNotUsableError:
        raise
    except InvalidTransitionError as refused:
        raise CredentialNotUsableError(
            f"{refused.message}: pipelines may only use an active integration's credential"
        ) from None
