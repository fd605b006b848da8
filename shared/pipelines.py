"""The one way a cost pipeline gets a provider credential in plaintext (never over HTTP).

    from shared.pipelines import get_credential

    credential = get_credential("acme_corp", "openai", pipeline="openai-costs-daily")
    client = OpenAI(api_key=credential.value)                   # API keys
    info = get_credential("acme_corp", "gcp", "gcp-billing").as_service_account()  # GCP
    sp = get_credential("acme_corp", "azure", "azure-costs").as_service_principal()  # tenant_id, client_id, client_secret

It uses the service built from the environment (shared.container.get_service: the same
settings, store and KMS key as the functions). Only an `active` integration is decrypted;
every call, allowed or refused, leaves a `decrypt` event in the integration's audit trail
with actor `pipeline:<name>`. See docs/pipelines.md.
"""

from __future__ import annotations

from .domain.aws import AwsSession
from .domain.errors import CredentialNotUsableError
from .domain.models import Credential

__all__ = ["AwsSession", "CredentialNotUsableError", "get_credential"]


def get_credential(org: str, provider: str, pipeline: str, needs: str | None = None) -> Credential | AwsSession:
    """The plaintext credential of the active integration `org`/`provider`, for `pipeline`.

    `needs`: a capability the pipeline relies on ("costs" for a cost pipeline; also "usage",
    "balance", "inference"): a credential whose last validation did not show it is refused.

    Returns a `Credential` (its secret is a SecretStr: `.value` for the text,
    `.as_service_account()` for a GCP key file as a dict, `.as_service_principal()` for an Azure
    service principal as a dict; repr and str are masked). For `aws`, an `AwsSession`: an hour
    of the customer's role, assumed with the org's external ID
    (`boto3.client("ce", **session.as_boto3())`); never a long-lived key.

    Raises (all `IntegrationsError`, none carrying the credential):
    - `BadRequestError`: a malformed org slug or pipeline name, or a manually entered
      (SaaS) provider, which has no credential;
    - `UnknownProviderError`: a provider not in the registry;
    - `NotConfiguredError`: no integration (or its stored credential is gone);
    - `CredentialNotUsableError` (an `InvalidTransitionError`): status pending, validating,
      error, expired or disabled, or without the capability `needs` (e.g. an OpenAI project key
      for a cost pipeline: only an Admin key reads costs);
    - `DecryptionError`: KMS refused or the ciphertext does not match its integration;
    - `ProviderUnavailableError` (aws): STS could not be reached in time, or refused the
      platform's own credentials; `CredentialNotUsableError` (aws): the role refused the
      platform (its trust policy changed, or it was deleted).
    """
    from .container import get_service

    return get_service().pipelines.get_credential(org, provider, pipeline, needs)
