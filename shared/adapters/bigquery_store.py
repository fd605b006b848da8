"""The Store on BigQuery: every write is a parameterized DML query job, never a streaming insert.

Why DML only: rows in the streaming buffer cannot be updated or deleted for up to
90 minutes, and every row here is updated or deleted sooner or later.

BigQuery has no unique keys and no row locks, so:
- first-time inserts (`create_org`, `insert_integration`, `put_credential`) claim, then confirm
  (see `_insert_once`): an insert-only statement never conflicts on BigQuery, so two writers
  could both insert the same key; the confirm step is a mutating UPDATE that rewrites every
  claim of the key, which BigQuery serializes, and only the first to commit confirms its row;
- updates and deletes are compare-and-set on `revision` (0 rows -> ConflictError);
- `try_record_attempt` runs one MERGE that updates a per-(org, provider) gate row and
  inserts the attempt only while the window holds fewer than `limit` attempts. Updating
  the gate makes it a *mutating* statement, which BigQuery serializes per table (a
  concurrent one fails with "Could not serialize access ... concurrent update" and is
  retried here); INSERT-only statements would run side by side on stale snapshots.

Tables and columns come from configs/schemas/*.json (read by Terraform too). The
google-cloud-bigquery import is lazy: embedded defaults never pay for it.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..domain.errors import ConflictError, StoreError
from ..domain.lifecycle import Status
from ..domain.models import CredentialRecord, CredentialRef, Event, Integration, Org, Rotation
from ..ports import Attempt, Write
from .ordered_commit import commit_in_order

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "configs" / "schemas"
TABLES = ("org_api_keys", "org_integrations", "org_credentials", "validation_attempts", "audit_events")
CLUSTERING = {name: ["org_slug", "provider"] for name in TABLES} | {"org_api_keys": ["api_key_hash"]}

# A reserved attempt id: the row every try_record_attempt of one org/provider updates.
GATE_ID = "__gate__"
# Unconfirmed first inserts (claims) carry a marker no reader matches: a negative revision
# (integrations), or this prefix on api_key_id (orgs) / key_version (credentials).
CLAIM_PREFIX = "claim:"
# Expired attempts are swept by about one call in this many (cheap, and bounded growth).
SWEEP_ONE_IN = 16

_DATASET_RE = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9:.\-]{0,127}$")
_CONCURRENT_RE = re.compile(r"could not serialize access|concurrent update", re.IGNORECASE)

T = TypeVar("T")

INTEGRATION_COLUMNS = (
    "org_slug, provider, category, name, status, status_code, status_message, config, credential_id, "
    "credential_version, fingerprint, hint, credential_created_at, rotation, created_at, updated_at, "
    "last_validated_at, revision"
)
CREDENTIAL_COLUMNS = "org_slug, provider, credential_id, version, ciphertext, key_version, fingerprint, hint, created_at"
EVENT_COLUMNS = "event_id, org_slug, provider, `at`, action, actor, outcome, fingerprint, details"
# What tells a confirmed row from an unconfirmed claim (see BigQueryStore._insert_once).
INTEGRATION_CONFIRMED = "revision > 0"
ORG_CONFIRMED = f"NOT STARTS_WITH(api_key_id, '{CLAIM_PREFIX}')"
CREDENTIAL_CONFIRMED = f"NOT STARTS_WITH(key_version, '{CLAIM_PREFIX}')"
CREDENTIAL_KEY = "org_slug = @org AND provider = @provider AND credential_id = @credential_id"


def load_schema(table: str) -> list[dict[str, str]]:
    """The table's column list, as BigQuery and Terraform take it."""
    return json.loads((SCHEMA_DIR / f"{table}.json").read_text(encoding="utf-8"))


def _ms(value: datetime | None) -> datetime | None:
    """UTC, to the millisecond: what every store keeps (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _b64(data: bytes) -> str:
    # BYTES travel as base64 STRING parameters decoded by FROM_BASE64 in SQL: correct on
    # BigQuery, and the emulator would otherwise store a BYTES parameter's base64 text.
    return base64.b64encode(data).decode("ascii")


def _claim_text() -> str:
    return CLAIM_PREFIX + uuid.uuid4().hex


def _param_type(value: Any) -> str:
    return "INT64" if isinstance(value, int) else "STRING"


def is_concurrent_update(exc: BaseException) -> bool:
    """BigQuery's optimistic-concurrency loss (400 or 409 flavours): safe to rerun."""
    return _CONCURRENT_RE.search(str(exc)) is not None


class BigQueryStore:
    """Store on a BigQuery dataset; pass `emulator_host` for a local emulator, or a ready `client`."""

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
        from google.cloud import bigquery  # lazy: cold starts on embedded defaults skip it

        if not _PROJECT_RE.match(project):
            raise StoreError("Invalid BigQuery project id")
        if not _DATASET_RE.match(dataset):
            raise StoreError("Invalid BigQuery dataset name")
        self._bq = bigquery
        self.project = project
        self.dataset = dataset
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        if client is None:
            if emulator_host:
                from google.auth.credentials import AnonymousCredentials

                host = emulator_host if "://" in emulator_host else f"http://{emulator_host}"
                client = bigquery.Client(
                    project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": host}
                )
            else:
                client = bigquery.Client(project=project)
        self.client = client

    # -- plumbing -------------------------------------------------------------------------

    def _t(self, table: str) -> str:
        return f"`{self.project}.{self.dataset}.{table}`"

    def _p(self, name: str, type_: str, value: Any) -> Any:
        return self._bq.ScalarQueryParameter(name, type_, value)

    def _owner(self, org: str, provider: str, **strings: str) -> list[Any]:
        """@org and @provider (every query filters on the clustering columns), plus STRING extras."""
        return [self._p("org", "STRING", org), self._p("provider", "STRING", provider),
                *(self._p(name, "STRING", value) for name, value in strings.items())]

    def _retrying(self, action: Callable[[], T]) -> T:
        """Run `action`, rerunning BigQuery's concurrent-update losses with jittered backoff."""
        from google.api_core import exceptions as gexc

        for attempt in range(1, self._max_attempts + 1):
            try:
                return action()
            except gexc.GoogleAPICallError as exc:
                if is_concurrent_update(exc) and attempt < self._max_attempts:
                    delay = self._backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                    log.info("bigquery concurrent update, retrying", extra={"attempt": attempt})
                    time.sleep(min(delay, 5.0))
                    continue
                if is_concurrent_update(exc):
                    raise ConflictError("Store busy: concurrent updates, try again") from exc
                raise StoreError(f"BigQuery request failed ({type(exc).__name__})") from exc
            except (gexc.RetryError, TimeoutError) as exc:
                raise StoreError(f"BigQuery request failed ({type(exc).__name__})") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _query(self, sql: str, params: list[Any]) -> tuple[list[Any], int]:
        """One query job with parameters: (rows, DML affected rows or 0)."""

        def run() -> tuple[list[Any], int]:
            config = self._bq.QueryJobConfig(query_parameters=params, use_legacy_sql=False)
            job = self.client.query(sql, job_config=config)
            rows = list(job.result())
            return rows, int(job.num_dml_affected_rows or 0)

        return self._retrying(run)

    def close(self) -> None:
        self.client.close()

    def _insert_once(
        self,
        table: str,
        key: str,
        params: list[Any],
        claim_sql: str,
        row_params: list[Any],
        *,
        column: str,
        claim: Any,
        confirmed: Any,
        is_confirmed: str,
        what: str,
    ) -> None:
        """Insert one row per key, correct under concurrent writers on real BigQuery.

        `key` is the SQL predicate naming the key (its parameters: `params`); `row_params`
        are the claim statement's, which gets `@claim` added.

        1. Claim: `claim_sql` inserts the row with `column = @claim` (a value no reader
           matches) unless a confirmed row exists; nothing inserted -> ConflictError.
           Insert-only statements never conflict, so several claims of a key can exist.
        2. Confirm: one UPDATE rewrites *every* claim of the key, setting `column` to the
           real value on this writer's claim only if no confirmed row is in its snapshot.
           Every writer's confirm rewrites the first committed claim, so two confirms that
           both see no confirmed row touch a common row and BigQuery fails one of them
           ("concurrent update"; rerun by `_retrying` on a fresh snapshot): at most one
           claim is ever confirmed.
        3. Check: this writer's claim still unconfirmed -> it lost: delete it, ConflictError.
        A writer that dies between 1 and 3 leaves an unconfirmed claim that no reader sees
        and no other writer confirms.
        """
        t = self._t(table)
        marker = [self._p("claim", _param_type(claim), claim)]
        _, claimed = self._query(claim_sql, row_params + marker)
        if claimed == 0:
            raise ConflictError(f"{what} already exists")
        try:
            self._query(
                f"""UPDATE {t} SET {column} = IF({column} = @claim AND NOT EXISTS (
                        SELECT 1 FROM {t} WHERE {key} AND {is_confirmed}), @confirmed, {column})
                    WHERE {key} AND NOT ({is_confirmed})""",
                params + marker + [self._p("confirmed", _param_type(confirmed), confirmed)],
            )
            rows, _ = self._query(f"SELECT COUNT(*) AS n FROM {t} WHERE {key} AND {column} = @claim", params + marker)
        except BaseException:
            self._drop_claim(t, key, column, params + marker)
            raise
        if rows and rows[0]["n"]:
            self._drop_claim(t, key, column, params + marker)
            raise ConflictError(f"{what} already exists")

    def _drop_claim(self, t: str, key: str, column: str, params: list[Any]) -> None:
        """Delete this writer's unconfirmed claim; best effort (readers never see a claim)."""
        try:
            self._query(f"DELETE FROM {t} WHERE {key} AND {column} = @claim", params)
        except Exception:  # noqa: BLE001 - a leftover claim is invisible and never confirmed
            log.warning("could not delete an unconfirmed claim row; it is invisible to readers")

    # -- schema ---------------------------------------------------------------------------

    def init_store(self) -> None:
        """Create the dataset and the clustered tables; safe to run again."""

        def create() -> None:
            self.client.create_dataset(self._bq.Dataset(f"{self.project}.{self.dataset}"), exists_ok=True)
            for name in TABLES:
                schema = [
                    self._bq.SchemaField(c["name"], c["type"], mode=c.get("mode", "NULLABLE"), description=c.get("description"))
                    for c in load_schema(name)
                ]
                table = self._bq.Table(f"{self.project}.{self.dataset}.{name}", schema=schema)
                table.clustering_fields = CLUSTERING[name]
                self.client.create_table(table, exists_ok=True)

        self._retrying(create)

    # -- orgs -----------------------------------------------------------------------------

    def create_org(self, org: Org) -> None:
        # Constants (not S.columns) in ON: BigQuery prunes clustered blocks only on constants.
        sql = f"""
            MERGE {self._t("org_api_keys")} T
            USING (SELECT @org AS org_slug) S ON T.org_slug = @org AND {ORG_CONFIRMED}
            WHEN NOT MATCHED THEN INSERT (org_slug, api_key_id, api_key_hash, created_at)
              VALUES (@org, @claim, @key_hash, @created_at)"""
        org_param = self._p("org", "STRING", org.slug)
        row = [
            org_param,
            self._p("key_hash", "STRING", org.api_key_hash),
            self._p("created_at", "TIMESTAMP", _ms(org.created_at)),
        ]
        self._insert_once("org_api_keys", "org_slug = @org", [org_param], sql, row, column="api_key_id",
                          claim=_claim_text(), confirmed=org.api_key_id, is_confirmed=ORG_CONFIRMED,
                          what="Organization")

    def get_org(self, slug: str) -> Org | None:
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_api_keys')} WHERE org_slug = @org AND {ORG_CONFIRMED} "
            "ORDER BY created_at LIMIT 1",
            [self._p("org", "STRING", slug)],
        )
        return _org(rows[0]) if rows else None

    def find_org_by_key_hash(self, key_hash: str) -> Org | None:
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_api_keys')} WHERE api_key_hash = @hash AND {ORG_CONFIRMED} "
            "ORDER BY created_at LIMIT 1",
            [self._p("hash", "STRING", key_hash)],
        )
        return _org(rows[0]) if rows else None

    def replace_org_key(self, slug: str, api_key_id: str, api_key_hash: str, issued_at: datetime) -> bool:
        # Confirmed rows only: a claim of a concurrent create_org stays a claim (see _insert_once).
        _, affected = self._query(
            f"UPDATE {self._t('org_api_keys')} SET api_key_id = @key_id, api_key_hash = @key_hash, "
            f"created_at = @issued_at WHERE org_slug = @org AND {ORG_CONFIRMED}",
            [self._p("org", "STRING", slug), self._p("key_id", "STRING", api_key_id),
             self._p("key_hash", "STRING", api_key_hash), self._p("issued_at", "TIMESTAMP", _ms(issued_at))],
        )
        return affected > 0

    # -- integrations ---------------------------------------------------------------------

    def _integration_params(self, item: Integration, revision: int) -> list[Any]:
        cred = item.credential
        p = self._p
        return [
            p("org", "STRING", item.org),
            p("provider", "STRING", item.provider),
            p("category", "STRING", item.category),
            p("name", "STRING", item.name),
            p("status", "STRING", Status(item.status).value),
            p("status_code", "STRING", item.status_code),
            p("status_message", "STRING", item.status_message),
            p("config", "STRING", json.dumps(item.config, sort_keys=True, separators=(",", ":"))),
            p("credential_id", "STRING", cred.credential_id if cred else None),
            p("credential_version", "INT64", cred.version if cred else None),
            p("fingerprint", "STRING", cred.fingerprint if cred else None),
            p("hint", "STRING", cred.hint if cred else None),
            p("credential_created_at", "TIMESTAMP", _ms(cred.created_at) if cred else None),
            p("rotation", "STRING", item.rotation.model_dump_json() if item.rotation else None),
            p("created_at", "TIMESTAMP", _ms(item.created_at)),
            p("updated_at", "TIMESTAMP", _ms(item.updated_at)),
            p("last_validated_at", "TIMESTAMP", _ms(item.last_validated_at)),
            p("revision", "INT64", revision),
        ]

    def get_integration(self, org: str, provider: str) -> Integration | None:
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_integrations')} "
            f"WHERE org_slug = @org AND provider = @provider AND {INTEGRATION_CONFIRMED}",
            self._owner(org, provider),
        )
        return _integration(rows[0]) if rows else None

    def list_integrations(self, org: str) -> list[Integration]:
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_integrations')} WHERE org_slug = @org AND {INTEGRATION_CONFIRMED} "
            "ORDER BY provider",
            [self._p("org", "STRING", org)],
        )
        return [_integration(r) for r in rows]

    def list_integrations_by_status(self, status: str) -> list[Integration]:
        # Across orgs by design (the scheduler's revalidation sweep): no org filter possible.
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_integrations')} WHERE status = @status AND {INTEGRATION_CONFIRMED} "
            "ORDER BY org_slug, provider",
            [self._p("status", "STRING", Status(status).value)],
        )
        return [_integration(r) for r in rows]

    def list_unsettled_integrations(self, updated_before: datetime) -> list[Integration]:
        # Across orgs by design (the recovery sweep after a crash).
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_integrations')} WHERE updated_at < @before AND status != 'disabled' "
            f"AND (status IN ('pending', 'validating') "
            f"OR JSON_VALUE(rotation, '$.status') IN ('pending', 'validating')) AND {INTEGRATION_CONFIRMED} "
            "ORDER BY org_slug, provider",
            [self._p("before", "TIMESTAMP", _ms(updated_before))],
        )
        return [_integration(r) for r in rows]

    def commit(self, write: Write) -> Integration | None:
        """BigQuery has no transaction over several tables here: ordered steps (ordered_commit.py)."""
        return commit_in_order(self, write)

    def insert_integration(self, item: Integration) -> Integration:
        stored = _normalized(item, revision=1)
        sql = f"""
            MERGE {self._t("org_integrations")} T
            USING (SELECT @org AS org_slug, @provider AS provider) S
            ON T.org_slug = @org AND T.provider = @provider AND {INTEGRATION_CONFIRMED}
            WHEN NOT MATCHED THEN INSERT ({INTEGRATION_COLUMNS})
              VALUES (@org, @provider, @category, @name, @status, @status_code, @status_message, @config,
                      @credential_id, @credential_version, @fingerprint, @hint, @credential_created_at,
                      @rotation, @created_at, @updated_at, @last_validated_at, @claim)"""
        row = [p for p in self._integration_params(stored, 1) if p.name != "revision"]
        key = [self._p("org", "STRING", item.org), self._p("provider", "STRING", item.provider)]
        # A claim's revision is negative: every reader and every CAS (revision = @expected >= 1) skips it.
        claim = -random.randint(1, 2**62)
        self._insert_once("org_integrations", "org_slug = @org AND provider = @provider", key, sql, row,
                          column="revision", claim=claim, confirmed=1, is_confirmed=INTEGRATION_CONFIRMED,
                          what="Integration")
        return stored

    def update_integration(self, item: Integration, expected_revision: int) -> Integration:
        stored = _normalized(item, revision=expected_revision + 1)
        sql = f"""
            UPDATE {self._t("org_integrations")} SET
              category = @category, name = @name, status = @status, status_code = @status_code,
              status_message = @status_message, config = @config, credential_id = @credential_id,
              credential_version = @credential_version, fingerprint = @fingerprint, hint = @hint,
              credential_created_at = @credential_created_at, rotation = @rotation, created_at = @created_at,
              updated_at = @updated_at, last_validated_at = @last_validated_at, revision = @revision
            WHERE org_slug = @org AND provider = @provider AND revision = @expected"""
        params = self._integration_params(stored, expected_revision + 1)
        params.append(self._p("expected", "INT64", expected_revision))
        _, affected = self._query(sql, params)
        if affected == 0:
            raise ConflictError("Integration changed since it was read")
        return stored

    def delete_integration(self, org: str, provider: str, expected_revision: int) -> None:
        _, affected = self._query(
            f"DELETE FROM {self._t('org_integrations')} "
            "WHERE org_slug = @org AND provider = @provider AND revision = @expected",
            [*self._owner(org, provider), self._p("expected", "INT64", expected_revision)],
        )
        if affected == 0:
            raise ConflictError("Integration changed since it was read")

    # -- credentials ----------------------------------------------------------------------

    def put_credential(self, record: CredentialRecord) -> None:
        """Store one ciphertext version; ConflictError if that credential id is already stored."""
        p = self._p
        sql = f"""
            MERGE {self._t("org_credentials")} T
            USING (SELECT @org AS org_slug, @provider AS provider, @credential_id AS credential_id) S
            ON T.org_slug = @org AND T.provider = @provider AND T.credential_id = @credential_id
              AND {CREDENTIAL_CONFIRMED}
            WHEN NOT MATCHED THEN INSERT ({CREDENTIAL_COLUMNS})
              VALUES (@org, @provider, @credential_id, @version, FROM_BASE64(@ciphertext), @claim,
                      @fingerprint, @hint, @created_at)"""
        key = [
            p("org", "STRING", record.org),
            p("provider", "STRING", record.provider),
            p("credential_id", "STRING", record.credential_id),
        ]
        row = key + [
            p("version", "INT64", record.version),
            p("ciphertext", "STRING", _b64(record.ciphertext)),
            p("fingerprint", "STRING", record.fingerprint),
            p("hint", "STRING", record.hint),
            p("created_at", "TIMESTAMP", _ms(record.created_at)),
        ]
        self._insert_once("org_credentials", CREDENTIAL_KEY, key, sql, row, column="key_version",
                          claim=_claim_text(), confirmed=record.key_version, is_confirmed=CREDENTIAL_CONFIRMED,
                          what="Credential")

    def get_credential(self, org: str, provider: str, credential_id: str) -> CredentialRecord | None:
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_credentials')} WHERE {CREDENTIAL_KEY} AND {CREDENTIAL_CONFIRMED}",
            self._owner(org, provider, credential_id=credential_id),
        )
        return _credential(rows[0]) if rows else None

    def delete_credential(self, org: str, provider: str, credential_id: str) -> bool:
        _, affected = self._query(
            f"DELETE FROM {self._t('org_credentials')} "
            "WHERE org_slug = @org AND provider = @provider AND credential_id = @credential_id",
            self._owner(org, provider, credential_id=credential_id),
        )
        return affected > 0

    def delete_credentials(
        self, org: str, provider: str, keep: frozenset[str] = frozenset(), created_before: datetime | None = None
    ) -> int:
        params = self._owner(org, provider)
        sql = f"DELETE FROM {self._t('org_credentials')} WHERE org_slug = @org AND provider = @provider"
        if keep:
            params.append(self._bq.ArrayQueryParameter("keep", "STRING", sorted(keep)))
            sql += " AND credential_id NOT IN UNNEST(@keep)"
        if created_before is not None:
            params.append(self._p("created_before", "TIMESTAMP", _ms(created_before)))
            sql += " AND created_at < @created_before"
        _, affected = self._query(sql, params)
        return affected

    def list_credentials(self, after: tuple[str, str, str] | None, limit: int) -> list[CredentialRecord]:
        # Keyset pagination across every org (the key-rotation rewrap job walks them all).
        params: list[Any] = []
        where = f"WHERE {CREDENTIAL_CONFIRMED}"
        if after is not None:
            where += (
                " AND (org_slug > @a_org OR (org_slug = @a_org AND provider > @a_provider) "
                "OR (org_slug = @a_org AND provider = @a_provider AND credential_id > @a_id))"
            )
            params += [
                self._p("a_org", "STRING", after[0]),
                self._p("a_provider", "STRING", after[1]),
                self._p("a_id", "STRING", after[2]),
            ]
        rows, _ = self._query(
            f"SELECT * FROM {self._t('org_credentials')} {where} "
            f"ORDER BY org_slug, provider, credential_id LIMIT {max(0, int(limit))}",
            params,
        )
        return [_credential(r) for r in rows]

    def replace_ciphertext(self, record: CredentialRecord, old_ciphertext: bytes) -> bool:
        _, affected = self._query(
            f"""UPDATE {self._t("org_credentials")}
                SET ciphertext = FROM_BASE64(@ciphertext), key_version = @key_version
                WHERE org_slug = @org AND provider = @provider AND credential_id = @credential_id
                  AND ciphertext = FROM_BASE64(@old) AND {CREDENTIAL_CONFIRMED}""",
            [
                self._p("org", "STRING", record.org),
                self._p("provider", "STRING", record.provider),
                self._p("credential_id", "STRING", record.credential_id),
                self._p("ciphertext", "STRING", _b64(record.ciphertext)),
                self._p("key_version", "STRING", record.key_version),
                self._p("old", "STRING", _b64(old_ciphertext)),
            ],
        )
        return affected > 0

    def delete_orphan_credentials(self, created_before: datetime) -> int:
        credentials, integrations = self._t("org_credentials"), self._t("org_integrations")
        _, affected = self._query(
            f"""DELETE FROM {credentials} c WHERE c.created_at < @before AND NOT EXISTS (
                  SELECT 1 FROM {integrations} i WHERE i.org_slug = c.org_slug AND i.provider = c.provider
                    AND (i.credential_id = c.credential_id
                         OR JSON_VALUE(i.rotation, '$.credential_id') = c.credential_id))""",
            [self._p("before", "TIMESTAMP", _ms(created_before))],
        )
        return affected

    # -- rate limiting --------------------------------------------------------------------

    def try_record_attempt(self, org: str, provider: str, now: datetime, window_seconds: int, limit: int) -> Attempt:
        now = _ms(now)
        assert now is not None
        start = now - timedelta(seconds=window_seconds)
        attempt_id = uuid.uuid4().hex
        base = self._owner(org, provider)
        table = self._t("validation_attempts")
        # 1. Make sure the gate row exists (insert-only; a duplicate gate row is harmless).
        self._query(
            f"""INSERT INTO {table} (org_slug, provider, attempt_id, `at`)
                SELECT @org, @provider, @gate, @now FROM UNNEST([1])
                WHERE NOT EXISTS (SELECT 1 FROM {table}
                                  WHERE org_slug = @org AND provider = @provider AND attempt_id = @gate)""",
            base + [self._p("gate", "STRING", GATE_ID), self._p("now", "TIMESTAMP", now)],
        )
        # 2. Touch the gate (mutating: serialized against every other attempt) and insert the
        #    attempt only if the window still has room, judged on this statement's snapshot.
        self._query(
            f"""MERGE {table} T
                USING (
                  SELECT @gate AS attempt_id, 0 AS n
                  UNION ALL
                  SELECT @attempt_id, (SELECT COUNT(*) FROM {table}
                                       WHERE org_slug = @org AND provider = @provider AND attempt_id != @gate
                                         AND `at` > @start)
                ) S
                ON T.org_slug = @org AND T.provider = @provider AND T.attempt_id = S.attempt_id
                WHEN MATCHED AND S.attempt_id = @gate THEN UPDATE SET `at` = @now
                WHEN NOT MATCHED AND S.attempt_id != @gate AND S.n < @limit THEN
                  INSERT (org_slug, provider, attempt_id, `at`) VALUES (@org, @provider, S.attempt_id, @now)""",
            base
            + [
                self._p("gate", "STRING", GATE_ID),
                self._p("attempt_id", "STRING", attempt_id),
                self._p("now", "TIMESTAMP", now),
                self._p("start", "TIMESTAMP", start),
                self._p("limit", "INT64", int(limit)),
            ],
        )
        rows, _ = self._query(
            f"SELECT COUNT(*) AS n FROM {table} "
            "WHERE org_slug = @org AND provider = @provider AND attempt_id = @attempt_id",
            base + [self._p("attempt_id", "STRING", attempt_id)],
        )
        allowed = bool(rows and rows[0]["n"])
        if random.randrange(SWEEP_ONE_IN) == 0:
            self._sweep_attempts(org, provider, start)
        if allowed:
            return Attempt(True)
        rows, _ = self._query(
            f"SELECT MIN(`at`) AS oldest FROM {table} "
            "WHERE org_slug = @org AND provider = @provider AND attempt_id != @gate AND `at` > @start",
            base + [self._p("gate", "STRING", GATE_ID), self._p("start", "TIMESTAMP", start)],
        )
        return Attempt.refused(_utc(rows[0]["oldest"]) if rows else None, now, window_seconds)

    def _sweep_attempts(self, org: str, provider: str, before: datetime) -> None:
        """Drop attempts that left the window; best effort (a lost race just waits for the next)."""
        try:
            self._query(
                f"DELETE FROM {self._t('validation_attempts')} "
                "WHERE org_slug = @org AND provider = @provider AND attempt_id != @gate AND `at` <= @before",
                [
                    *self._owner(org, provider, gate=GATE_ID),
                    self._p("before", "TIMESTAMP", before),
                ],
            )
        except StoreError:
            log.warning("validation attempt sweep failed; will retry on a later call")

    # -- events ---------------------------------------------------------------------------

    def append_event(self, event: Event) -> None:
        p = self._p
        self._query(
            f"INSERT INTO {self._t('audit_events')} ({EVENT_COLUMNS}) "
            "VALUES (@event_id, @org, @provider, @at, @action, @actor, @outcome, @fingerprint, @details)",
            [
                p("event_id", "STRING", event.id),
                p("org", "STRING", event.org),
                p("provider", "STRING", event.provider),
                p("at", "TIMESTAMP", _ms(event.at)),
                p("action", "STRING", event.action),
                p("actor", "STRING", event.actor),
                p("outcome", "STRING", event.outcome),
                p("fingerprint", "STRING", event.fingerprint),
                p("details", "STRING", json.dumps(event.details, sort_keys=True, separators=(",", ":"))),
            ],
        )

    def list_events(
        self, org: str, provider: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Event]:
        params = self._owner(org, provider)
        cursor = ""
        if before is not None:
            cursor = "AND (`at` < @b_at OR (`at` = @b_at AND event_id < @b_id))"
            params += [self._p("b_at", "TIMESTAMP", _ms(before[0])), self._p("b_id", "STRING", before[1])]
        rows, _ = self._query(
            f"SELECT * FROM {self._t('audit_events')} WHERE org_slug = @org AND provider = @provider {cursor} "
            f"ORDER BY `at` DESC, event_id DESC LIMIT {max(0, int(limit))}",
            params,
        )
        return [_event(r) for r in rows]


# -- row <-> model ------------------------------------------------------------------------


def _normalized(item: Integration, revision: int) -> Integration:
    """The integration as stored: timestamps cut to the millisecond in UTC, the new revision."""
    cred = item.credential
    rot = item.rotation
    return item.model_copy(
        update={
            "created_at": _ms(item.created_at),
            "updated_at": _ms(item.updated_at),
            "last_validated_at": _ms(item.last_validated_at),
            "credential": cred.model_copy(update={"created_at": _ms(cred.created_at)}) if cred else None,
            "rotation": rot.model_copy(update={"created_at": _ms(rot.created_at)}) if rot else None,
            "revision": revision,
        }
    )


def _org(row: Any) -> Org:
    return Org(
        slug=row["org_slug"],
        api_key_id=row["api_key_id"],
        api_key_hash=row["api_key_hash"],
        created_at=_utc(row["created_at"]),
    )


def _integration(row: Any) -> Integration:
    credential = None
    if row["credential_id"] is not None:
        credential = CredentialRef(
            credential_id=row["credential_id"],
            version=row["credential_version"],
            fingerprint=row["fingerprint"],
            hint=row["hint"],
            created_at=_utc(row["credential_created_at"]),
        )
    rotation = Rotation.model_validate_json(row["rotation"]) if row["rotation"] else None
    if rotation is not None:
        rotation = rotation.model_copy(update={"created_at": _utc(rotation.created_at)})
    return Integration(
        org=row["org_slug"],
        provider=row["provider"],
        category=row["category"],
        name=row["name"],
        status=Status(row["status"]),
        status_code=row["status_code"],
        status_message=row["status_message"],
        credential=credential,
        rotation=rotation,
        config=json.loads(row["config"]) if row["config"] else {},
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
        last_validated_at=_utc(row["last_validated_at"]),
        revision=row["revision"],
    )


def _credential(row: Any) -> CredentialRecord:
    return CredentialRecord(
        org=row["org_slug"],
        provider=row["provider"],
        credential_id=row["credential_id"],
        version=row["version"],
        ciphertext=bytes(row["ciphertext"]),
        key_version=row["key_version"],
        fingerprint=row["fingerprint"],
        hint=row["hint"],
        created_at=_utc(row["created_at"]),
    )


def _event(row: Any) -> Event:
    return Event(
        id=row["event_id"],
        org=row["org_slug"],
        provider=row["provider"],
        at=_utc(row["at"]),
        action=row["action"],
        actor=row["actor"],
        outcome=row["outcome"],
        fingerprint=row["fingerprint"],
        details=json.loads(row["details"]) if row["details"] else {},
    )
