"""The operator's command line.

python -m shared.cli serve            every function on one port (PORT, default 8080, 127.0.0.1)
python -m shared.cli create-org SLUG  create an org; its API key is printed alone on the last line
python -m shared.cli rotate-key SLUG  replace an org's API key (the old one is refused at once)
python -m shared.cli revoke-key SLUG  revoke an org's API key: no key works until rotate-key
python -m shared.cli init-store       create dataset and tables (idempotent; sqlite does it by itself)
python -m shared.cli revalidate       queue a revalidation of every active integration, then return
python -m shared.cli keyring rotate   local keyring only: add a key version and make it primary
python -m shared.cli rewrap           re-encrypt every credential under the primary key version
                                      (--legacy-binding: once after upgrading, see shared/service/rewrap.py);
                                      one that cannot be is skipped, reported, and the exit code is 1
"""

from __future__ import annotations

import argparse
import json
import signal
import sys


def _settings():
    from .settings import get_settings

    return get_settings()


def cmd_serve(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    from . import validator_token
    from .container import get_service
    from .recovery import start_recovery
    from .server import VALIDATOR_PATH, serve
    from .service.revalidation import stuck_after
    from .settings import topic_parts

    settings = _settings()
    service = get_service()  # configures logging, builds adapters
    service.store.init_store()
    if settings.kms_backend == "local":
        from .adapters.local_keyring import KeyringFailure

        try:  # a lost keyring stops the server here, not as a 502 on every later request
            service.cipher.load()
        except KeyringFailure as failure:
            print(f"error: {failure}", file=sys.stderr)
            return 1
    # A new token per start: only our own queue (which reads the file) may call the validator.
    token = validator_token.issue(settings.data_dir)
    if settings.queue_backend == "pubsub" and settings.pubsub_emulator_host:
        # A push subscription sends no custom header: the token rides in the query string.
        query = urlencode({validator_token.QUERY_PARAMETER: token})
        endpoint = f"http://127.0.0.1:{settings.port}{VALIDATOR_PATH}?{query}"
        service.queue.ensure_topic()
        topic_id = topic_parts(settings.pubsub_topic, settings.gcp_project)[1]
        service.queue.ensure_push_subscription(f"{topic_id}-local-push", endpoint)
        service.status_events.ensure_topic()  # else every status event would be dropped (topic not found)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    recovery: list = []

    def ready() -> None:
        # After the socket is bound: re-queued validations are delivered to this very server.
        recovery.append(start_recovery(service, stuck_after(settings).total_seconds()))
        print(
            f"Integrations API on http://{settings.host}:{settings.port}/api/v1/integrations "
            f"(store={settings.store_backend}, kms={settings.kms_backend}, queue={settings.queue_backend})",
            file=sys.stderr,
            flush=True,
        )
        print(
            "Create an org and its API key with: python -m shared.cli create-org <org_slug>",
            file=sys.stderr,
            flush=True,
        )

    try:
        serve(settings.host, settings.port, on_ready=ready, validator_token_value=token)
    except KeyboardInterrupt:
        pass
    finally:
        for stop in recovery:
            stop.set()
        service.queue.close()
        service.status_events.close()
    return 0


def cmd_create_org(args: argparse.Namespace) -> int:
    from .container import get_service
    from .domain.errors import ConflictError, IntegrationsError

    service = get_service()
    try:
        key = service.orgs.create_org(args.org)
    except ConflictError:
        print(f"error: organization {args.org} already exists", file=sys.stderr)
        return 1
    except IntegrationsError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    print(f"Created organization {args.org}. Its API key (shown once, store it now):")
    print(key)
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from .container import get_service

    key = get_service().orgs.rotate_org_key(args.org)
    print(f"New API key of organization {args.org} (shown once, store it now; the old key is refused from now on):")
    print(key)
    return 0


def cmd_revoke_key(args: argparse.Namespace) -> int:
    from .container import get_service

    get_service().orgs.revoke_org_key(args.org)
    print(f"API key of organization {args.org} revoked: no key works until rotate-key {args.org}")
    return 0


def cmd_init_store(args: argparse.Namespace) -> int:
    from .container import build_store

    settings = _settings()
    build_store(settings).init_store()
    print(f"store ready ({settings.store_backend})")
    return 0


def cmd_revalidate(args: argparse.Namespace) -> int:
    from .container import build_queue
    from .domain.models import ValidationMessage

    queue = build_queue(_settings())
    try:
        queue.publish(ValidationMessage(kind="revalidate"))
        queue.drain(timeout=args.timeout)
    finally:
        queue.close()
    print("revalidation queued")
    return 0


def cmd_keyring_rotate(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.kms_backend != "local":
        print("error: keyring rotate is for the local keyring; Cloud KMS rotates by itself", file=sys.stderr)
        return 2
    from .container import build_cipher, build_store

    keyring = build_cipher(settings, build_store(settings))  # refuses to replace a lost keyring
    version = keyring.rotate()
    print(f"new primary key version: {version}")
    print(json.dumps({"versions": keyring.key_versions()}, default=str))
    return 0


def cmd_rewrap(args: argparse.Namespace) -> int:
    from .container import get_service

    report = get_service().rewrap.run(batch_size=args.batch_size, legacy_binding=args.legacy_binding)
    print(json.dumps(report, sort_keys=True))
    if report["failed"]:
        print(
            f"error: {len(report['failed'])} credential(s) could not be rewrapped and were skipped; "
            'each is listed under "failed" (org, provider, credential_id, reason)',
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description="Integrations operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve every function on one port").set_defaults(fn=cmd_serve)
    org = sub.add_parser("create-org", help="create an org and print its API key on the last line")
    org.add_argument("org")
    org.set_defaults(fn=cmd_create_org)
    rotate_key = sub.add_parser("rotate-key", help="replace an org's API key; the new one is printed on the last line")
    rotate_key.add_argument("org")
    rotate_key.set_defaults(fn=cmd_rotate_key)
    revoke_key = sub.add_parser("revoke-key", help="revoke an org's API key (no key works until rotate-key)")
    revoke_key.add_argument("org")
    revoke_key.set_defaults(fn=cmd_revoke_key)
    sub.add_parser("init-store", help="create dataset and tables (idempotent)").set_defaults(fn=cmd_init_store)
    reval = sub.add_parser("revalidate", help="queue a revalidation of every active integration")
    reval.add_argument("--timeout", type=float, default=30.0)
    reval.set_defaults(fn=cmd_revalidate)
    keyring = sub.add_parser("keyring", help="local keyring operations")
    ksub = keyring.add_subparsers(dest="keyring_command", required=True)
    ksub.add_parser("rotate", help="add a key version and make it primary").set_defaults(fn=cmd_keyring_rotate)
    rewrap = sub.add_parser("rewrap", help="re-encrypt every credential under the primary key version")
    rewrap.add_argument("--batch-size", type=int, default=100)
    rewrap.add_argument(
        "--legacy-binding",
        action="store_true",
        help="also re-seal credentials sealed before ciphertexts were bound to their credential id "
        "(run once after upgrading; decrypts every credential)",
    )
    rewrap.set_defaults(fn=cmd_rewrap)
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from .settings import Settings, settings_error

    try:
        Settings()  # every setting checked before any work; the message names the variable
    except ValidationError as exc:
        print(f"error: {settings_error(exc).message}", file=sys.stderr)
        return 2
    try:
        return args.fn(args)
    except Exception as exc:  # an operator gets one clear line, never a credential
        from .domain.errors import IntegrationsError
        from .domain.errors import CipherFailure

        message = exc.message if isinstance(exc, IntegrationsError) else type(exc).__name__
        if isinstance(exc.__cause__, CipherFailure):  # says why (a missing keyring file), never a secret
            message = f"{message}: {exc.__cause__}"
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
