"""What a customer does in IAM, done in the AWS stand-in: `python -m tests.support.aws_role < form.json`
reads an AWS setup form (GET /{org}/aws/setup), creates a role with its trust policy and its
permissions policy exactly as given, and prints the role's ARN (the credential to set up).

`--without-external-id` drops the trust policy's sts:ExternalId condition: the role a customer
makes when they skip it, which the check refuses (the confused deputy). It talks to the
stand-in `make standins` started, with the admin keys it printed
(AWS_STANDIN_ADMIN_ACCESS_KEY_ID / AWS_STANDIN_ADMIN_SECRET_ACCESS_KEY) and AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.aws_role", description=__doc__.splitlines()[0])
    parser.add_argument("--without-external-id", action="store_true", help="drop the sts:ExternalId condition")
    args = parser.parse_args(argv)
    block = json.load(sys.stdin)["aws"]
    trust = block["trust_policy"]
    if args.without_external_id:
        trust = {**trust, "Statement": [{k: v for k, v in s.items() if k != "Condition"} for s in trust["Statement"]]}
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_STANDIN_ADMIN_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_STANDIN_ADMIN_SECRET_ACCESS_KEY"],
    )
    name = f"cost-platform-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="costs", PolicyDocument=json.dumps(block["permissions_policy"]))
    print(arn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
