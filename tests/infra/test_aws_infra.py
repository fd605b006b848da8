"""Terraform and deploy.sh for AWS: the platform's role ARN reaches every function as
AWS_PLATFORM_ROLE_ARN (validated), and Terraform outputs what that role must trust: Google ID
tokens (accounts.google.com, audience the role's ARN) of the service accounts of exactly the
functions that call AWS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.infra import tf
from tests.infra.test_deploy_script import SETTINGS, deploy_commands, env_vars, flags, run_deploy

ROLE = "arn:aws:iam::111122223333:role/cost-platform-integrations"
# The functions whose requests validate inline, and the validator function: they reach AWS.
AWS_CALLERS = ["rotate_credential", "setup_integration", "validate_credential", "validate_integration"]


def test_terraform_outputs_what_the_platform_role_must_trust(tmp_path: Path) -> None:
    evaluated = tf.evaluate("{ callers = local.aws_callers, functions = keys(local.functions) }", tmp_path)
    assert evaluated["callers"] == AWS_CALLERS and set(AWS_CALLERS) <= set(evaluated["functions"])
    output = next(
        o["aws_platform_role_trust"] for o in tf.parsed()["outputs.tf"]["output"] if "aws_platform_role_trust" in o
    )
    value = output["value"]
    assert value["federated_provider"] == "accounts.google.com"
    assert value["audience"] == "${var.aws_platform_role_arn}"
    ids = "${sort([for name in local.aws_callers : google_service_account.function[name].unique_id])}"
    assert value["service_account_unique_ids"] == ids
    env = tf.parsed()["functions.tf"]["locals"][0]["function_environment"]
    assert env["AWS_PLATFORM_ROLE_ARN"] == '${var.aws_platform_role_arn == null ? "" : var.aws_platform_role_arn}'


@pytest.mark.parametrize("value", ["arn:aws:iam::111122223333:user/someone", "arn:aws:iam::1111:role/x"])
def test_terraform_refuses_an_aws_platform_role_that_is_not_a_role_arn(value: str, tmp_path: Path) -> None:
    terraform = tf.require_terraform()
    tf.evaluate("local.topics", tmp_path)  # lays out the copy
    result = subprocess.run(
        [terraform, "console", "-var", "project_id=demo-project", "-var", f"aws_platform_role_arn={value}"],
        input="var.region\n", cwd=tmp_path / "terraform", env=tf.terraform_env(), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert "Invalid value for variable" in result.stderr, result.stderr


def test_deploy_passes_the_platform_role_to_every_function() -> None:
    result = run_deploy("--dry-run", env={**SETTINGS, "AWS_PLATFORM_ROLE_ARN": ROLE, "GCLOUD": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    for argv in deploy_commands(result.stdout).values():
        assert env_vars(flags(argv)["set-env-vars"])["AWS_PLATFORM_ROLE_ARN"] == ROLE
    unset = run_deploy("--dry-run", env={**SETTINGS, "GCLOUD": "/nonexistent"})
    assert all(
        env_vars(flags(a)["set-env-vars"])["AWS_PLATFORM_ROLE_ARN"] == ""
        for a in deploy_commands(unset.stdout).values()
    )


def test_deploy_refuses_an_aws_platform_role_that_is_not_a_role_arn() -> None:
    result = run_deploy("--dry-run", env={**SETTINGS, "AWS_PLATFORM_ROLE_ARN": "arn:aws:iam::1:user/x"})
    assert result.returncode != 0 and "AWS_PLATFORM_ROLE_ARN must be an IAM role ARN" in result.stderr
    assert not result.stdout
