"""The `aws` block of the AWS setup form: the org's external ID, the platform's principal, and
the two policies a customer pastes, as JSON ready for IAM.

- trust policy: the platform principal may call sts:AssumeRole only with the org's external ID;
- permissions policy (least privilege): ce:GetCostAndUsage, and, when the org's AWS integration
  has a `cur_bucket`, s3:ListBucket on it (limited to `cur_prefix`) and s3:GetObject below it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ..domain.errors import ProviderUnavailableError
from ..ports import ValidationResult

if TYPE_CHECKING:
    from ..ports import Store
    from .external_ids import ExternalIds

log = logging.getLogger(__name__)

VERSION = "2012-10-17"


def trust_policy(principal_arn: str, external_id: str) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "CostPlatformAssumesWithExternalId",
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def permissions_policy(partition: str, bucket: str | None = None, prefix: str = "") -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadCostExplorer", "Effect": "Allow", "Action": "ce:GetCostAndUsage", "Resource": "*"}
    ]
    if bucket:
        listing: dict[str, Any] = {
            "Sid": "ListCostExports",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:{partition}:s3:::{bucket}",
        }
        if prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
        reading = {
            "Sid": "ReadCostExports",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}*",
        }
        statements += [listing, reading]
    return {"Version": VERSION, "Statement": statements}


class AwsSetup:
    def __init__(self, store: Store, external_ids: ExternalIds, validators: Callable[[str], Any]):
        self._store = store
        self._external_ids = external_ids
        self._validators = validators

    def block(self, org: str) -> dict[str, Any]:
        """The form's `aws` block for `org`; 503 when the platform's own AWS identity is unknown."""
        principal = self._validators("aws").principal_arn()
        if isinstance(principal, ValidationResult):  # the catalogue's answer; why, for the operator
            log.warning("the platform's AWS principal is unknown", extra={"fields": {"detail": principal.detail}})
            raise ProviderUnavailableError()
        seen = self._store.read(org, "aws", with_org=True)  # one query: the org's row and the integration
        external_id = self._external_ids.of(org, seen.org)
        item = seen.integration
        config = item.config if item is not None else {}
        partition = principal.split(":")[1]
        return {
            "external_id": external_id,
            "principal_arn": principal,
            "trust_policy": trust_policy(principal, external_id),
            "permissions_policy": permissions_policy(
                partition, config.get("cur_bucket"), config.get("cur_prefix") or ""
            ),
        }
