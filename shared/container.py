"""The composition root: builds the use cases (`Services`) from settings, once per process, lazily.

Nothing is built at import time (cold start); cloud client libraries are imported only
by the adapter that needs them. Tests call `build_service(Settings(...))` directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from .domain.models import utcnow
from .ports import StatusEvents
from .registry import Registry, get_registry
from .service.audit import Audit
from .service.credentials import Credentials
from .service.integrations import Integrations
from .service.limits import RateLimit
from .service.messages import Messages
from .service.orgs import Orgs
from .service.pipelines import PipelineAccess
from .service.revalidation import Revalidation
from .service.rewrap import Rewrap
from .service.setups import Setups
from .service.validation import Validation
from .service.writes import Writes
from .settings import Settings, get_settings

_lock = threading.Lock()
_service: Services | None = None


def build_store(settings: Settings):
    if settings.store_backend == "bigquery":
        from .adapters.bigquery_store import BigQueryStore

        return BigQueryStore(settings.gcp_project, settings.bq_dataset, emulator_host=settings.bigquery_emulator_host)
    from .adapters.sqlite_store import SqliteStore

    return SqliteStore(settings.data_dir / "integrations.db")


def build_cipher(settings: Settings, store: Any = None):
    if settings.kms_backend == "gcp":
        from .adapters.cloudkms_cipher import CloudKmsCipher

        return CloudKmsCipher(settings.kms_key_name, endpoint=settings.kms_endpoint)
    from .adapters.local_keyring import LocalKeyring

    def may_create() -> bool:
        # A missing keyring may be created only while no ciphertext exists: else it was lost,
        # and a fresh one would silently leave every stored credential undecryptable. Asked
        # only when the file is missing (never at import or instance start).
        return not (store if store is not None else build_store(settings)).list_credentials(None, 1)

    return LocalKeyring(settings.data_dir / "keyring.json", may_create=may_create)


def build_queue(settings: Settings):
    if settings.queue_backend == "pubsub":
        from .adapters.pubsub_queue import PubSubQueue

        return PubSubQueue(settings.gcp_project, settings.pubsub_topic)
    from .adapters.local_queue import LocalQueue

    # As many deliveries as the validator allows before it settles a transient failure as final;
    # a timeout above the validator's worst case so a slow validation is not delivered twice.
    from .validator_token import FILE_NAME

    return LocalQueue(
        settings.local_validator_url,
        max_attempts=settings.validator_max_deliveries,
        backoff=min(settings.provider_backoff_seconds * 2, 2.0) or 0.1,
        timeout=60,
        token_file=settings.data_dir / FILE_NAME,
    )


def build_status_events(settings: Settings) -> StatusEvents:
    if settings.queue_backend == "pubsub":
        from .adapters.pubsub_events import PubSubStatusEvents

        return PubSubStatusEvents(settings.gcp_project, settings.status_events_topic)
    from .adapters.local_events import LocalStatusEvents

    return LocalStatusEvents(settings.data_dir / "status-events.jsonl")


def validator_factory(settings: Settings, transport: Any = None) -> Callable[[str], Any]:
    """One validator per provider per process, built on first use (thread-safe)."""
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def get(name: str):
        with lock:
            if name not in cache:
                from .validators import get_validator

                cache[name] = get_validator(name, settings, transport=transport)
            return cache[name]

    return get


class Lazy:
    """Builds an adapter on first use: a read-only function never pays for the cipher or the
    queue (cryptography, the keyring file, an HTTP client, a Pub/Sub client)."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._built: Any = None
        self._lock = threading.Lock()

    def _target(self) -> Any:
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._factory()
        return self._built

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)


@dataclass(frozen=True)
class Services:
    """The use cases, each a small collaborator with its dependencies passed in (built below),
    and the adapters they share, for the command line and tests."""

    orgs: Orgs
    integrations: Integrations
    setups: Setups
    validation: Validation
    revalidation: Revalidation
    messages: Messages
    pipelines: PipelineAccess
    rewrap: Rewrap
    registry: Any
    store: Any
    cipher: Any
    queue: Any
    status_events: Any
    settings: Settings


def build_service(
    settings: Settings,
    *,
    registry: Registry | None = None,
    transport: Any = None,
    store: Any = None,
    cipher: Any = None,
    queue: Any = None,
    status_events: Any = None,
    validators: Callable[[str], Any] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    """Compose the use cases; adapters not given are built from settings (the cipher, queue and
    status events on first use, so a read never pays for them)."""
    store = store or build_store(settings)
    cipher = cipher or Lazy(lambda: build_cipher(settings, store))
    queue = queue or Lazy(lambda: build_queue(settings))
    status_events = status_events or Lazy(lambda: build_status_events(settings))
    registry = registry or Lazy(get_registry)
    validators = validators or validator_factory(settings, transport)

    audit = Audit(store, status_events, clock)
    writes = Writes(store, audit)
    credentials = Credentials(store, cipher, registry, validators, clock)
    limits = RateLimit(store, settings, clock)
    validation = Validation(store, registry, credentials, writes, queue, settings, clock)
    revalidation = Revalidation(store, registry, credentials, validation, settings, clock)
    return Services(
        orgs=Orgs(store, clock),
        integrations=Integrations(store, registry, writes, limits, validation, clock),
        setups=Setups(store, registry, credentials, writes, audit, limits, validation, clock),
        validation=validation,
        revalidation=revalidation,
        messages=Messages(validation, revalidation),
        pipelines=PipelineAccess(registry, credentials, writes, audit),
        rewrap=Rewrap(store, cipher),
        registry=registry,
        store=store,
        cipher=cipher,
        queue=queue,
        status_events=status_events,
        settings=settings,
    )


def get_service() -> Services:
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                from .logs import configure

                settings = get_settings()
                configure(settings.log_level, settings.gcp_project)
                _service = build_service(settings)
    return _service


def reset() -> None:
    """Forget the built service and settings (tests, after changing the environment)."""
    global _service
    with _lock:
        _service = None
    get_settings.cache_clear()


__all__ = ["build_service", "get_service", "get_settings", "reset"]
