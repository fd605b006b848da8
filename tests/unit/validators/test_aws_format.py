"""The AWS credential's format (shared/domain/aws.py) and what a pipeline's session shows of itself;
the settings' AWS_PLATFORM_ROLE_ARN takes the same format. No network."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.domain.aws import AwsSession, RoleArn
from shared.domain.errors import BadRequestError, InvalidFormatError
from shared.domain.models import Credential
from shared.settings import Settings, settings_error
from shared.validators.aws import AwsValidator, session_name


@pytest.mark.parametrize(
    ("arn", "parts"),
    [
        ("arn:aws:iam::123456789012:role/costs", ("aws", "123456789012", "/", "costs")),
        (
            "arn:aws:iam::123456789012:role/team/finance/cost-reader",
            ("aws", "123456789012", "/team/finance/", "cost-reader"),
        ),
        ("arn:aws-cn:iam::000000000001:role/a+b=c,d.e@f_g-h", ("aws-cn", "000000000001", "/", "a+b=c,d.e@f_g-h")),
        ("arn:aws-us-gov:iam::210987654321:role/" + "n" * 64, ("aws-us-gov", "210987654321", "/", "n" * 64)),
    ],
)
def test_role_arns_parse(arn: str, parts: tuple[str, str, str, str]) -> None:
    parsed = RoleArn.parse(arn)
    assert parsed is not None and (parsed.partition, parsed.account, parsed.path, parsed.name) == parts
    AwsValidator(Settings()).check_format(Credential(secret=arn), {})


@pytest.mark.parametrize(
    "value",
    [None, 5, "", " arn:aws:iam::123456789012:role/costs", "arn:aws:iam::123456789012:role/costs\n",
     "arn:aws:iam::123456789012:role/costs*", "arn:aws:iam::123456789012:role/" + "n" * 65,
     "arn:aws:iam:us-east-1:123456789012:role/costs", "arn:aws:iam::123456789012:group/costs"],
)  # fmt: skip
def test_anything_else_is_no_role_arn(value: object) -> None:
    assert RoleArn.parse(value) is None
    if isinstance(value, str):
        with pytest.raises(InvalidFormatError) as refused:
            AwsValidator(Settings()).check_format(Credential(secret=value), {})
        assert not value.strip() or value.strip() not in refused.value.message  # never echoed


def test_a_prefix_needs_a_bucket() -> None:
    with pytest.raises(BadRequestError, match="config.cur_prefix' needs config.cur_bucket"):
        AwsValidator(Settings()).check_format(
            Credential(secret="arn:aws:iam::123456789012:role/c"), {"cur_prefix": "x/"}
        )


def test_session_names_fit_aws_and_name_the_org() -> None:
    assert session_name("acme_corp") == "integrations-acme_corp"
    assert session_name("acme_corp", "aws-costs") == "acme_corp.aws-costs"
    assert len(session_name("o" * 50, "p" * 63)) == 64


def test_a_session_shows_no_secret_and_no_role() -> None:
    session = AwsSession(role_arn="arn:aws:iam::123456789012:role/costs", access_key_id="ASIAEXAMPLE",
                         secret_access_key="s3cr3t", session_token="t0k3n",
                         expiration=datetime(2026, 1, 1, tzinfo=timezone.utc))  # fmt: skip
    for shown in (repr(session), str(session)):
        assert "ASIAEXAMPLE" not in shown and "s3cr3t" not in shown and "t0k3n" not in shown and "costs" not in shown
    assert session.as_boto3() == {"aws_access_key_id": "ASIAEXAMPLE", "aws_secret_access_key": "s3cr3t",
                                  "aws_session_token": "t0k3n"}  # fmt: skip


def test_the_platform_role_setting_must_be_a_role_arn() -> None:
    assert Settings(aws_platform_role_arn="").aws_platform_role_arn is None
    with pytest.raises(Exception) as refused:
        Settings(aws_platform_role_arn="arn:aws:iam::123456789012:user/platform")
    message = settings_error(refused.value).message
    assert "AWS_PLATFORM_ROLE_ARN must be an IAM role ARN" in message and "user/platform" not in message
