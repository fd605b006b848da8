"""The composition root: builds the service from settings, once per process, lazily.

Nothing is built at import time (cold start); cloud client libraries are imported only
by the adapter that needs them. Tests call `build_service(Settings(...))` directly.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from .ports import StatusEvents
from .registry import Registry, get_registry
from .service import IntegrationService
from .settings import Settings, get_settings

_lock = threading.Lock()
_service: IntegrationService | None = None


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

    return LocalQueue(settings.local_validator_url, max_attempts=settings.validator_max_deliveries,
                      backoff=min(settings.provider_backoff_seconds * 2, 2.0) or 0.1, timeout=60,
                      token_file=settings.data_dir / FILE_NAME)


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


def build_service(settings: Settings, *, registry: Registry | None = None, transport: Any = None,
                  **overrides: Any) -> IntegrationService:
    store = overrides.pop("store", None) or build_store(settings)
    parts = {
        "store": store,
        "cipher": overrides.pop("cipher", None) or Lazy(lambda: build_cipher(settings, store)),
        "queue": overrides.pop("queue", None) or Lazy(lambda: build_queue(settings)),
        "status_events": overrides.pop("status_events", None) or Lazy(lambda: build_status_events(settings)),
    }
    return IntegrationService(registry=registry or Lazy(get_registry), settings=settings,
                              validators=overrides.pop("validators", None) or validator_factory(settings, transport),
                              **parts, **overrides)


def get_service() -> IntegrationService:
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
