"""The composition root: builds the use cases (`Services`) from settings, once per process, lazily.

Nothing is built at import time (cold start); cloud client libraries are imported only
by the adapter that needs them. Tests call `build_service(Settings(...))` directly.
"""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable

from .domain.models import utcnow
from .registry import Registry, get_registry
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from .ports import StatusEvents
    from .service.audit import Audit
    from .service.aws_setup import AwsSetup
    from .service.external_ids import ExternalIds
    from .service.credentials import Credentials
    from .service.integrations import Integrations
    from .service.limits import RateLimit
    from .service.messages import Messages
    from .service.orgs import Orgs
    from .service.pipelines import PipelineAccess
    from .service.revalidation import Revalidation
    from .service.rewrap import Rewrap
    from .service.setup_forms import SetupForms
    from .service.setups import Setups
    from .service.validation import Validation
    from .service.writes import Writes

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


class Services:
    """The use cases, each a small collaborator with its dependencies passed in, and the adapters
    they share (for the command line and tests).

    Each collaborator is built, and its module imported, the first time it is used: a function
    pays only for the use cases its requests reach (a 401 builds `orgs` alone: cold start).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        registry: Any,
        store: Any,
        cipher: Any,
        queue: Any,
        status_events: Any,
        validators: Callable[[str], Any],
        clock: Callable[[], datetime],
    ):
        self.settings = settings
        self.registry = registry
        self.store = store
        self.cipher = cipher
        self.queue = queue
        self.status_events = status_events
        self.validators = validators
        self.clock = clock

    # -- what the use cases share
    @cached_property
    def audit(self) -> Audit:
        from .service.audit import Audit

        return Audit(self.store, self.status_events, self.clock)

    @cached_property
    def writes(self) -> Writes:
        from .service.writes import Writes

        return Writes(self.store, self.audit)

    @cached_property
    def credentials(self) -> Credentials:
        from .service.credentials import Credentials

        return Credentials(self.store, self.cipher, self.registry, self.validators, self.clock)

    @cached_property
    def limits(self) -> RateLimit:
        from .service.limits import RateLimit

        return RateLimit(self.store, self.settings, self.clock)

    @cached_property
    def validation(self) -> Validation:
        from .service.validation import Validation

        return Validation(
            self.store, self.registry, self.credentials, self.writes, self.queue, self.settings, self.clock,
            self.external_ids,
        )  # fmt: skip

    @cached_property
    def revalidation(self) -> Revalidation:
        from .service.revalidation import Revalidation

        return Revalidation(
            self.store, self.registry, self.credentials, self.validation, self.writes, self.settings, self.clock
        )

    @cached_property
    def external_ids(self) -> ExternalIds:
        from .service.external_ids import ExternalIds

        return ExternalIds(self.store)

    @cached_property
    def aws_setup(self) -> AwsSetup:
        from .service.aws_setup import AwsSetup

        return AwsSetup(self.store, self.external_ids, self.validators)

    # -- the use cases the entry points call
    @cached_property
    def orgs(self) -> Orgs:
        from .service.orgs import KEY_TTL_SECONDS, Orgs

        # A key lookup is a BigQuery query (0.5-2 s), a SQLite one microseconds: keep keys on BigQuery only.
        ttl = KEY_TTL_SECONDS if self.settings.store_backend == "bigquery" else 0.0
        return Orgs(self.store, self.clock, key_ttl=ttl)

    @cached_property
    def integrations(self) -> Integrations:
        from .service.integrations import Integrations

        return Integrations(self.store, self.registry, self.writes, self.limits, self.validation, self.clock)

    @cached_property
    def setups(self) -> Setups:
        from .service.setups import Setups

        return Setups(
            self.store,
            self.registry,
            self.credentials,
            self.writes,
            self.audit,
            self.limits,
            self.validation,
            self.clock,
        )

    @cached_property
    def setup_forms(self) -> SetupForms:
        from .service.setup_forms import SetupForms

        return SetupForms(self.registry, lambda: self.aws_setup)

    @cached_property
    def messages(self) -> Messages:
        from .service.messages import Messages

        return Messages(self.validation, self.revalidation)

    @cached_property
    def pipelines(self) -> PipelineAccess:
        from .service.pipelines import PipelineAccess

        return PipelineAccess(self.registry, self.credentials, self.writes, self.audit, self.external_ids)

    @cached_property
    def rewrap(self) -> Rewrap:
        from .service.rewrap import Rewrap

        return Rewrap(self.store, self.cipher)


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
    return Services(
        settings,
        registry=registry or Lazy(get_registry),
        store=store,
        cipher=cipher or Lazy(lambda: build_cipher(settings, store)),
        queue=queue or Lazy(lambda: build_queue(settings)),
        status_events=status_events or Lazy(lambda: build_status_events(settings)),
        validators=validators or validator_factory(settings, transport),
        clock=clock,
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
