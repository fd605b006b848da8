"""`BigQueryStore`: the Store port on one BigQuery dataset, each concern in its own module."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...domain.models import CredentialRecord, Event, Integration, Org
from ...ports import Attempt, Snapshot, Write
from . import attempts, credentials, events, gates, integrations, orgs, schema, unit
from .dataset import Dataset


class BigQueryStore:
    """Store on a BigQuery dataset; pass `emulator_host` for a local emulator, or a ready `client`.

    `max_attempts` runs of a job lost to a concurrent update, waits around `backoff_seconds`
    doubling between them (dataset.py).
    """

    def __init__(
        self,
        project: str,
        dataset: str,
        emulator_host: str | None = None,
        client: Any = None,
        *,
        max_attempts: int = 6,
        backoff_seconds: float = 0.2,
    ) -> None:
        self._ds = Dataset(
            project, dataset, emulator_host, client, max_attempts=max_attempts, backoff_seconds=backoff_seconds
        )

    @property
    def project(self) -> str:
        return self._ds.project

    @property
    def dataset(self) -> str:
        return self._ds.dataset

    @property
    def client(self) -> Any:
        return self._ds.client

    def init_store(self) -> None:
        from ...domain.models import utcnow

        schema.init_store(self._ds)
        gates.backfill(self._ds, utcnow())

    def close(self) -> None:
        self._ds.close()

    def commit(self, write: Write) -> Integration | None:
        """One statement, or one transaction when the write spans tables; events streamed (unit.py)."""
        return unit.commit(self._ds, write)

    def read(
        self,
        org: str,
        provider: str,
        *,
        credentials: bool = False,
        attempts_since: datetime | None = None,
        with_org: bool = False,
    ) -> Snapshot:
        return unit.read(
            self._ds, org, provider, with_credentials=credentials, attempts_since=attempts_since, with_org=with_org
        )

    # -- orgs ---------------------------------------------------------------------------------

    def create_org(self, org: Org) -> None:
        orgs.create(self._ds, org)
        gates.create(self._ds, org.slug, org.created_at)

    def get_org(self, slug: str) -> Org | None:
        return orgs.get(self._ds, slug)

    def find_org_by_key_hash(self, key_hash: str) -> Org | None:
        return orgs.find_by_key_hash(self._ds, key_hash)

    def replace_org_key(self, slug: str, api_key_id: str, api_key_hash: str, issued_at: datetime) -> bool:
        return orgs.replace_key(self._ds, slug, api_key_id, api_key_hash, issued_at)

    def set_aws_external_id(self, slug: str, external_id: str) -> str | None:
        return orgs.set_aws_external_id(self._ds, slug, external_id)

    # -- integrations -------------------------------------------------------------------------

    def get_integration(self, org: str, provider: str) -> Integration | None:
        return integrations.get(self._ds, org, provider)

    def list_integrations(self, org: str) -> list[Integration]:
        return integrations.list_for_org(self._ds, org)

    def list_integrations_by_status(self, status: str) -> list[Integration]:
        return integrations.list_by_status(self._ds, status)

    def list_unsettled_integrations(self, updated_before: datetime) -> list[Integration]:
        return integrations.list_unsettled(self._ds, updated_before)

    def insert_integration(self, item: Integration) -> Integration:
        saved = self.commit(Write(item.org, item.provider, None, item))
        assert saved is not None
        return saved

    def update_integration(self, item: Integration, expected_revision: int) -> Integration:
        saved = self.commit(Write(item.org, item.provider, expected_revision, item))
        assert saved is not None
        return saved

    def delete_integration(self, org: str, provider: str, expected_revision: int) -> None:
        self.commit(Write(org, provider, expected_revision, None))

    # -- credentials --------------------------------------------------------------------------

    def put_credential(self, record: CredentialRecord) -> None:
        credentials.put(self._ds, record)

    def get_credential(self, org: str, provider: str, credential_id: str) -> CredentialRecord | None:
        return credentials.get(self._ds, org, provider, credential_id)

    def delete_credential(self, org: str, provider: str, credential_id: str) -> bool:
        return credentials.delete(self._ds, org, provider, credential_id)

    def delete_credentials(
        self, org: str, provider: str, keep: frozenset[str] = frozenset(), created_before: datetime | None = None
    ) -> int:
        return credentials.delete_many(self._ds, org, provider, keep, created_before)

    def list_credentials(self, after: tuple[str, str, str] | None, limit: int) -> list[CredentialRecord]:
        return credentials.list_all(self._ds, after, limit)

    def replace_ciphertext(self, record: CredentialRecord, old_ciphertext: bytes) -> bool:
        return credentials.replace_ciphertext(self._ds, record, old_ciphertext)

    def delete_orphan_credentials(self, created_before: datetime) -> int:
        return credentials.delete_orphans(self._ds, created_before)

    # -- rate limit and audit trail -----------------------------------------------------------

    def try_record_attempt(self, org: str, provider: str, now: datetime, window_seconds: int, limit: int) -> Attempt:
        return attempts.try_record(self._ds, org, provider, now, window_seconds, limit)

    def append_event(self, event: Event) -> None:
        events.append(self._ds, [event])

    def list_events(
        self, org: str, provider: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Event]:
        return events.list_page(self._ds, org, provider, limit, before)
