"""AWS in the domain: what a role ARN is, and the temporary session a pipeline receives.

A role ARN is `arn:<partition>:iam::<12-digit account>:role/<path/><name>`: partitions aws,
aws-cn and aws-us-gov; IAM's role name characters (`A-Za-z0-9+=,.@_-`, 1 to 64), the same
in each path segment (the path is at most 512 characters). Nothing else is a credential.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from .models import Model

_NAME = r"[A-Za-z0-9+=,.@_-]"
ROLE_ARN = re.compile(rf"arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{{12}}):role/((?:{_NAME}+/)*)({_NAME}{{1,64}})")
MAX_PATH = 512


@dataclass(frozen=True)
class RoleArn:
    partition: str
    account: str
    path: str  # "/" or "/a/b/"
    name: str

    @classmethod
    def parse(cls, value: Any) -> "RoleArn | None":
        """The role ARN `value` spells, or None when it is not one (never says why: it is input)."""
        match = ROLE_ARN.fullmatch(value) if isinstance(value, str) else None
        if match is None or len(match.group(3)) + 1 > MAX_PATH:
            return None
        partition, account, path, name = match.groups()
        return cls(partition, account, "/" + path, name)


class AwsSession(Model):
    """Temporary credentials of a customer's role, assumed for one pipeline run (at most an hour).

    Never a long-lived secret. The secrets are SecretStr: repr and str are masked. Pass
    `as_boto3()` to boto3: `boto3.client("ce", **session.as_boto3())`.
    """

    role_arn: str
    access_key_id: SecretStr
    secret_access_key: SecretStr
    session_token: SecretStr
    expiration: datetime

    def as_boto3(self) -> dict[str, str]:
        """The keyword arguments boto3.Session / boto3.client take for these credentials."""
        return {
            "aws_access_key_id": self.access_key_id.get_secret_value(),
            "aws_secret_access_key": self.secret_access_key.get_secret_value(),
            "aws_session_token": self.session_token.get_secret_value(),
        }

    def __repr__(self) -> str:  # the ARN is the customer's credential: masked like the rest
        return f"AwsSession(expiration={self.expiration.isoformat()!r}, secrets='**********')"

    __str__ = __repr__
