"""AWS: a customer's IAM role, assumed by the platform's principal with the org's external ID.

The check (docs/providers.md), each failure naming its step and the permission:
1. `sts:AssumeRole` with the org's external ID (900 s, session `integrations-<org>`);
2. the same without the external ID must be refused: a role that accepts it lets any other
   customer of the platform point it at this role (the confused deputy);
3. `sts:GetCallerIdentity` with the session: its account is the ARN's;
4. `ce:GetCostAndUsage` for yesterday, one request (each costs $0.01);
5. `s3:ListObjectsV2` (one key) of `config.cur_bucket` / `cur_prefix`, when configured.
Valid: capabilities ["costs"]. Pipelines get an hour of the role (`assume`), never a key.
boto3 is imported only when a call is made (aws_identity.py, aws_calls.py).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import httpx

from shared.domain.aws import AwsSession, RoleArn
from shared.domain.errors import BadRequestError, InvalidFormatError
from shared.domain.models import Credential
from shared.ports import CredentialOwner, ValidationResult
from shared.settings import Settings

from .aws_calls import Refusal, aws_call
from .aws_identity import CE_REGION, STS_REGION, PlatformIdentity, session_keys
from .base import unreadable, valid
from .http import validation_deadline

log = logging.getLogger(__name__)

FORMAT = "not an IAM role ARN: arn:<aws|aws-cn|aws-us-gov>:iam::<12 digits>:role/<path/><name>"
VALIDATION_SECONDS = 900  # the shortest session AWS grants
PIPELINE_SECONDS = 3600  # the longest a chained session may last
ASSUME_REFUSED = (
    "sts:AssumeRole with the org's external ID was refused: check the role ARN, and that the role's "
    "trust policy lets the platform principal call sts:AssumeRole with that external ID (GET .../aws/setup)"
)
NO_EXTERNAL_ID = (
    "sts:AssumeRole without the external ID was accepted: the role's trust policy must require it "
    "(Condition StringEquals sts:ExternalId, as in GET .../aws/setup)"
)


def session_name(org: str, pipeline: str | None = None) -> str:
    """The role session's name (2 to 64 of [\\w+=,.@-]): the org, and the pipeline when one asks.
    It shows in the customer's CloudTrail."""
    return (f"{org}.{pipeline}" if pipeline else f"integrations-{org}")[:64]


class AwsValidator:
    provider = "AWS"

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._identity = PlatformIdentity(settings, transport)

    def close(self) -> None:
        """Nothing held open: boto3 clients are made per call."""

    def __repr__(self) -> str:
        return "AwsValidator()"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        if RoleArn.parse(credential.value) is None:
            raise InvalidFormatError(FORMAT)
        if config.get("cur_prefix") and not config.get("cur_bucket"):
            raise BadRequestError("Field 'config.cur_prefix' needs config.cur_bucket")

    def check_key(self, credential: Credential, config: dict[str, Any]) -> None:
        """Nothing costly to check for a role ARN."""

    # -- the check ------------------------------------------------------------------------------

    def validate(
        self, credential: Credential, config: dict[str, Any], owner: CredentialOwner | None = None
    ) -> ValidationResult:
        """The verdict within VALIDATION_TIMEOUT_SECONDS; never raises (see HttpValidator.validate)."""
        try:
            with validation_deadline(self.settings.validation_timeout_seconds):
                role = RoleArn.parse(credential.value)
                if role is None:
                    return ValidationResult("invalid_credentials", FORMAT)
                if owner is None or not owner.aws_external_id:
                    return ValidationResult("provider_unavailable", "the org's external ID is unknown")
                return self._check(credential.value, role, owner, config)
        except Exception as exc:  # noqa: BLE001 - an answer no step foresaw is nothing proven
            log.warning("provider answer could not be read",
                        extra={"fields": {"provider": self.provider, "error_type": type(exc).__name__}})  # fmt: skip
            return unreadable(self.provider)

    def _check(self, arn: str, role: RoleArn, owner: CredentialOwner, config: dict[str, Any]) -> ValidationResult:
        name = session_name(owner.org)
        # 1. with the external ID
        answer = self._assume(arn, role, name, owner.aws_external_id, VALIDATION_SECONDS)
        if isinstance(answer, Refusal):
            return (
                ValidationResult("invalid_credentials", ASSUME_REFUSED) if answer.denied else _odd("AssumeRole", answer)
            )
        if isinstance(answer, ValidationResult):
            return answer
        keys = session_keys(answer["Credentials"])
        # 2. without it: must be refused
        unguarded = self._assume(arn, role, name, None, VALIDATION_SECONDS)
        if isinstance(unguarded, ValidationResult):
            return unguarded
        if not isinstance(unguarded, Refusal):
            return ValidationResult("missing_permissions", NO_EXTERNAL_ID)
        if not unguarded.denied:
            return _odd("AssumeRole", unguarded)
        # 3. the session is the role's account's
        sts = lambda t: self._identity.client("sts", STS_REGION[role.partition], t, keys)  # noqa: E731
        identity = aws_call(self.settings, "AWS STS", sts, "get_caller_identity", {})
        if isinstance(identity, (Refusal, ValidationResult)):
            return identity if isinstance(identity, ValidationResult) else _odd("GetCallerIdentity", identity)
        if identity.get("Account") != role.account:
            return ValidationResult(
                "invalid_credentials", "sts:GetCallerIdentity: the assumed session is not in the role's account"
            )
        # 4. one Cost Explorer request
        costs = self._costs(role, keys)
        if costs is not None:
            return costs
        # 5. the cost export bucket, when configured
        bucket = config.get("cur_bucket")
        if bucket:
            listed = self._list_bucket(role, keys, bucket, config.get("cur_prefix") or "")
            if listed is not None:
                return listed
            return valid("costs", remark=f"Cost Explorer and s3://{bucket} are readable")
        return valid("costs")

    def _assume(
        self, arn: str, role: RoleArn, name: str, external_id: str | None, seconds: int
    ) -> dict[str, Any] | Refusal | ValidationResult:
        params: dict[str, Any] = {"RoleArn": arn, "RoleSessionName": name, "DurationSeconds": seconds}
        if external_id is not None:
            params["ExternalId"] = external_id
        sts = lambda t: self._identity.client("sts", STS_REGION[role.partition], t)  # noqa: E731
        return aws_call(self.settings, "AWS STS", sts, "assume_role", params)

    def _costs(self, role: RoleArn, keys: dict[str, str]) -> ValidationResult | None:
        today = date.today()
        period = {"Start": (today - timedelta(days=1)).isoformat(), "End": today.isoformat()}
        ce = lambda t: self._identity.client("ce", CE_REGION[role.partition], t, keys)  # noqa: E731
        params = {"TimePeriod": period, "Granularity": "DAILY", "Metrics": ["UnblendedCost"]}
        answer = aws_call(self.settings, "AWS Cost Explorer", ce, "get_cost_and_usage", params)
        if isinstance(answer, ValidationResult):
            return answer
        if not isinstance(answer, Refusal):
            return None
        if answer.denied:
            return ValidationResult(
                "missing_permissions", "ce:GetCostAndUsage was refused: grant ce:GetCostAndUsage to the role"
            )
        if answer.code == "DataUnavailableException":
            return ValidationResult(
                "missing_permissions",
                "ce:GetCostAndUsage: Cost Explorer has no data for the account: enable Cost Explorer in the "
                "Billing console (data arrives within 24 hours)",
            )
        return _odd("GetCostAndUsage", answer)

    def _list_bucket(self, role: RoleArn, keys: dict[str, str], bucket: str, prefix: str) -> ValidationResult | None:
        s3 = lambda t: self._identity.client("s3", CE_REGION[role.partition], t, keys)  # noqa: E731
        answer = aws_call(
            self.settings, "AWS S3", s3, "list_objects_v2", {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1}
        )
        if isinstance(answer, ValidationResult):
            return answer
        if not isinstance(answer, Refusal):
            return None
        if answer.denied:
            return ValidationResult(
                "missing_permissions",
                f"s3:ListObjectsV2 on s3://{bucket} was refused: grant s3:ListBucket on arn:{role.partition}:s3:::{bucket}",
            )
        if answer.code == "NoSuchBucket":
            return ValidationResult("missing_permissions", f"s3:ListObjectsV2: bucket {bucket} does not exist")
        return _odd("ListObjectsV2", answer)

    # -- for the pipelines and the setup form ---------------------------------------------------

    def assume(self, credential: Credential, owner: CredentialOwner, pipeline: str) -> AwsSession | ValidationResult:
        """An hour of the customer's role for a pipeline run, or why not."""
        role = RoleArn.parse(credential.value)
        if role is None or not owner.aws_external_id:
            return ValidationResult(
                "invalid_credentials", FORMAT if role is None else "the org's external ID is unknown"
            )
        with validation_deadline(self.settings.validation_timeout_seconds):
            answer = self._assume(credential.value, role, session_name(owner.org, pipeline), owner.aws_external_id,
                                  PIPELINE_SECONDS)  # fmt: skip
        if isinstance(answer, Refusal):
            return (
                ValidationResult("invalid_credentials", ASSUME_REFUSED) if answer.denied else _odd("AssumeRole", answer)
            )
        if isinstance(answer, ValidationResult):
            return answer
        found = answer["Credentials"]
        return AwsSession(role_arn=credential.value, access_key_id=found["AccessKeyId"],
                          secret_access_key=found["SecretAccessKey"], session_token=found["SessionToken"],
                          expiration=found["Expiration"])  # fmt: skip

    def principal_arn(self) -> str | ValidationResult:
        """The platform's AWS principal, the one customers' trust policies name: the platform role,
        or (no AWS_PLATFORM_ROLE_ARN: local, tests) the default chain's identity."""
        if self.settings.aws_platform_role_arn:
            return self.settings.aws_platform_role_arn
        with validation_deadline(self.settings.validation_timeout_seconds):
            sts = lambda t: self._identity.client("sts", STS_REGION["aws"], t)  # noqa: E731
            answer = aws_call(self.settings, "AWS STS", sts, "get_caller_identity", {})
        if isinstance(answer, Refusal):
            return _odd("GetCallerIdentity", answer)
        return answer if isinstance(answer, ValidationResult) else str(answer["Arn"])


def _odd(operation: str, refusal: Refusal) -> ValidationResult:
    """An error answer the step does not expect: named by its code, not the key's fault."""
    return ValidationResult("provider_unavailable", f"{operation} answered {refusal.code or refusal.status}")
