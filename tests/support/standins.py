"""The provider stand-ins the tests use, runnable by hand: `python -m tests.support.standins`.

Starts `ProviderServers` (tests/support/provider_servers/: OpenAI, Anthropic, Gemini,
DeepSeek, Google's OAuth token endpoint and BigQuery, Entra ID and Azure Resource Manager, each
on 127.0.0.1 and a free port) and AWS (moto with IAM access control, tests/support/aws_standin.py),
prints the `export` lines that point the service at them and the test keys they answer for,
then serves until Ctrl-C (or SIGTERM). docs/providers.md says what each check calls. AWS roles
need the org's external ID, which the service makes: `python -m tests.support.aws_role < form.json`
creates one from an org's setup form, as a customer would in IAM.

The keys are made at start and mean nothing anywhere else; a stand-in answers any other
key the way the real provider answers an invalid one. `--env-file PATH` also writes the
export lines to PATH (mode 0600), so another shell can `. PATH`; the file, like the GCP
key files, is removed on exit: stale URLs never outlive the servers.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from tests.support.aws_standin import AwsStandIn
from tests.support.provider_servers import (
    ProviderServers,
    anthropic_key,
    deepseek_key,
    gemini_key,
    openai_key,
)

# (variable, server attribute, key maker, scenario, what the service makes of it)
# fmt: off
API_KEYS: list[tuple[str, str, Callable[[], str], str, str]] = [
    ("OPENAI_ADMIN_KEY", "openai", lambda: openai_key("admin"), "valid", "Admin key -> active, reads costs and usage"),
    ("OPENAI_ADMIN_KEY_NEW", "openai", lambda: openai_key("admin"), "valid", "Admin key too: rotate to it"),
    ("OPENAI_ADMIN_KEY_READ_ONLY", "openai", lambda: openai_key("admin"), "read_only",
     "-> error, Missing permissions (api.usage.read)"),
    ("OPENAI_KEY", "openai", openai_key, "valid", "project key -> active, inference only"),
    ("OPENAI_KEY_NEW", "openai", openai_key, "valid", "valid too: rotate to it"),
    ("OPENAI_KEY_MISSING_SCOPE", "openai", openai_key, "missing_scope", "-> error, Missing permissions"),
    ("OPENAI_KEY_QUOTA", "openai", openai_key, "quota", "-> error, Missing permissions (quota)"),
    ("OPENAI_KEY_DOWN", "openai", openai_key, "unavailable", "-> error, Provider unavailable (after retries)"),
    ("ANTHROPIC_ADMIN_KEY", "anthropic", lambda: anthropic_key(admin=True), "valid",
     "Admin key -> active, reads costs and usage"),
    ("ANTHROPIC_KEY", "anthropic", anthropic_key, "valid", "API key -> active, inference only"),
    ("ANTHROPIC_KEY_FORBIDDEN", "anthropic", anthropic_key, "forbidden", "-> error, Missing permissions"),
    ("ANTHROPIC_KEY_BILLING", "anthropic", anthropic_key, "billing", "-> error, Missing permissions (billing)"),
    ("GEMINI_KEY", "gemini", gemini_key, "valid", "valid -> active"),
    ("GEMINI_KEY_SERVICE_DISABLED", "gemini", gemini_key, "service_disabled", "-> error, API disabled in project"),
    ("DEEPSEEK_KEY", "deepseek", deepseek_key, "valid", "valid -> active, inference and balance"),
    ("DEEPSEEK_KEY_EMPTY", "deepseek", deepseek_key, "no_balance", "-> active, the account has no balance"),
    ("DEEPSEEK_KEY_NO_BALANCE", "deepseek", deepseek_key, "insufficient_balance", "-> error, Missing permissions"),
]
# fmt: on

# (variable, scenario, what the service makes of it): service-account key files for `gcp`.
GCP_KEY_FILES: list[tuple[str, str, str]] = [
    ("GCP_KEY_FILE", "valid", "valid -> active (reads costs with a billing_export_table)"),
    ("GCP_KEY_FILE_DISABLED", "disabled", "-> error, API key invalid or expired"),
    ("GCP_KEY_FILE_NO_DATA_VIEWER", "no_data_viewer", "-> error, Missing permissions (with a billing_export_table)"),
]


# (variable, scenario, what the service makes of it): Azure service principals (JSON) for `azure`,
# all with the scope $AZURE_SCOPE and the expiry date $AZURE_SECRET_EXPIRES.
AZURE_PRINCIPALS: list[tuple[str, str, str]] = [
    ("AZURE_CREDENTIAL", "valid", "valid -> active, reads costs"),
    ("AZURE_CREDENTIAL_SECRET_ID", "secret_id", "-> error, the Secret ID was pasted instead of the Value"),
    ("AZURE_CREDENTIAL_EXPIRED", "secret_expired", "-> expired, Entra ID says the secret expired"),
    ("AZURE_CREDENTIAL_NO_ROLE", "no_role", "-> error, Missing permissions (Cost Management Reader)"),
]


def service_settings(servers: ProviderServers) -> dict[str, str]:
    """The settings (environment variables) that point the service at the stand-ins."""
    return {
        "OPENAI_BASE_URL": servers.openai_url,
        "ANTHROPIC_BASE_URL": servers.anthropic_url,
        "GEMINI_BASE_URL": servers.gemini_url,
        "DEEPSEEK_BASE_URL": servers.deepseek_url,
        "GCP_TOKEN_URI": servers.token_url,
        "BIGQUERY_API_URL": servers.bigquery_url,
        "AZURE_AUTHORITY_HOST": servers.azure_authority_url,
        "AZURE_MANAGEMENT_URL": servers.azure_management_url,
    }


def register_credentials(servers: ProviderServers, key_dir: Path) -> list[tuple[str, str, str]]:
    """Make and register every test credential; (variable, value, comment) for each."""
    lines = []
    for variable, server, make, scenario, what in API_KEYS:
        lines.append((variable, getattr(servers, server).set(make(), scenario), what))
    for variable, scenario, what in GCP_KEY_FILES:
        path = key_dir / f"{variable.lower()}.json"
        info = servers.gcp_service_account(scenario)
        path.write_text(json.dumps(info, indent=2))
        path.chmod(0o600)
        lines.append((variable, str(path), what))
    scope = f"/subscriptions/{uuid.uuid4()}"
    lines.append(("AZURE_SCOPE", scope, "config.scope of every Azure principal below"))
    expires = (date.today() + timedelta(days=180)).isoformat()
    lines.append(("AZURE_SECRET_EXPIRES", expires, "expires_at of their client secrets"))
    for variable, scenario, what in AZURE_PRINCIPALS:
        credential, _ = servers.azure_principal(scenario, scope)
        lines.append((variable, json.dumps(credential, separators=(",", ":")), what))
    return lines


def aws_settings(aws: AwsStandIn) -> dict[str, str]:
    """AWS for the service (its default credential chain: the platform user, on the stand-in) and
    the stand-in's admin keys, for `python -m tests.support.aws_role` (what a customer does in IAM)."""
    return {
        **aws.env(),
        "AWS_STANDIN_ADMIN_ACCESS_KEY_ID": aws.admin["aws_access_key_id"],
        "AWS_STANDIN_ADMIN_SECRET_ACCESS_KEY": aws.admin["aws_secret_access_key"],
    }


def render(settings: dict[str, str], credentials: list[tuple[str, str, str]]) -> list[str]:
    out = ["# 1. Point the service at the stand-ins (in the shell that runs `make run`):"]
    out += [f"export {name}={shlex.quote(value)}" for name, value in settings.items()]
    out.append("# 2. Test credentials they accept (made now, valid nowhere else; any other key is refused as invalid):")
    out += [f"export {name}={shlex.quote(value)}  # {what}" for name, value, what in credentials]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.standins", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, help="also write the export lines to this file (removed on exit)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    servers = ProviderServers().start()
    aws = AwsStandIn()
    env_file: Path | None = None
    try:
        aws.start()
        with tempfile.TemporaryDirectory(prefix="standins-") as key_dir:
            settings = {**service_settings(servers), **aws_settings(aws)}
            lines = render(settings, register_credentials(servers, Path(key_dir)))
            lines.append(f"# AWS: the platform's principal is {aws.platform_arn}; make a customer's role from an")
            lines.append("# org's form: .venv/bin/python -m tests.support.aws_role < form.json (prints its ARN)")
            if args.env_file is not None:
                env_file = args.env_file.resolve()
                fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write("\n".join(lines) + "\n")
            print("# Provider stand-ins on 127.0.0.1 (tests/support/provider_servers/); Ctrl-C stops them.")
            print("\n".join(lines))
            if env_file is not None:
                print(f"# The same lines are in {env_file}: `. {shlex.quote(str(env_file))}` in another shell.")
            print("# Ready.", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        servers.stop()
        aws.stop()
        if env_file is not None:
            env_file.unlink(missing_ok=True)
    print("# Stand-ins stopped.", file=sys.stderr, flush=True)
    return 0


def parse_exports(text: str) -> dict[str, str]:
    """The `export NAME=value` lines of this module's output, as a dict (for tests and scripts)."""
    found = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, rest = line[len("export ") :].partition("=")
            found[name] = shlex.split(rest, comments=True)[0]
    return found


if __name__ == "__main__":
    sys.exit(main())
