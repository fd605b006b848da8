"""One BigQuery dataset: its client, parameterized queries, and their retry.

Every query goes through `Client.query_and_wait` on a client in short-query mode
(`JOB_CREATION_OPTIONAL`): one jobs.query call that answers with the rows (or the DML's
affected-row count), where BigQuery may create no job at all for a small read, instead of a
job inserted, then polled, then read.

Every value travels as a query parameter, never inside the SQL text; only the project and
dataset names reach the text, checked here first. BYTES travel as base64 STRING parameters
decoded by FROM_BASE64 in SQL: correct on BigQuery, and the emulator would otherwise store
a BYTES parameter's base64 text.

BigQuery serializes mutating statements per table and fails the loser of a race with
"Could not serialize access ... concurrent update" (a 400 or a 409): such a job committed
nothing, so it is rerun, with jittered exponential backoff (google.api_core's Retry), up to
`max_attempts` runs; then ConflictError. Any other failure is StoreError. Google's
libraries are imported on first use only.
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any, Callable, TypeVar

from ...domain.errors import ConflictError, StoreError
from .. import rows

log = logging.getLogger(__name__)

T = TypeVar("T")

# Every query names its org as @org (the clustering column's parameter).
PARAM_NAMES = {"org_slug": "org"}
# The longest wait between two runs of a job.
MAX_BACKOFF_SECONDS = 5.0
# jobs.query may answer a short query without creating a job (no insert, poll, read).
SHORT_QUERY_MODE = "JOB_CREATION_OPTIONAL"

_DATASET_RE = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9:.\-]{0,127}$")
_CONCURRENT_RE = re.compile(r"could not serialize access|concurrent update", re.IGNORECASE)


def is_concurrent_update(exc: BaseException) -> bool:
    """BigQuery's optimistic-concurrency loss (400 or 409 flavours): safe to rerun."""
    return _CONCURRENT_RE.search(str(exc)) is not None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def param_name(column: str) -> str:
    return PARAM_NAMES.get(column, column)


def placeholder(table: str, column: str) -> str:
    """Where a column's value goes in SQL: its parameter, decoded for BYTES."""
    name = f"@{param_name(column)}"
    return f"FROM_BASE64({name})" if rows.column_types(table)[column] == "BYTES" else name


def column_list(columns: Any) -> str:
    return ", ".join(f"`{c}`" for c in columns)  # quoted: `at` is a reserved word


class Dataset:
    """The dataset's tables and queries; pass `emulator_host` for a local emulator, or a ready `client`."""

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
        self.bq = bigquery
        self.project = project
        self.dataset = dataset
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        if client is None:
            if emulator_host:
                from google.auth.credentials import AnonymousCredentials

                host = emulator_host if "://" in emulator_host else f"http://{emulator_host}"
                client = bigquery.Client(
                    project=project,
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": host},
                    default_job_creation_mode=SHORT_QUERY_MODE,
                )
                _fail_like_bigquery(client)
            else:
                client = bigquery.Client(project=project, default_job_creation_mode=SHORT_QUERY_MODE)
        self.client = client

    def table(self, name: str) -> str:
        return f"`{self.project}.{self.dataset}.{name}`"

    def param(self, name: str, type_: str, value: Any) -> Any:
        return self.bq.ScalarQueryParameter(name, type_, value)

    def owner(self, org: str, provider: str, **strings: str) -> list[Any]:
        """@org and @provider (every query filters on the clustering columns), plus STRING extras."""
        return [
            self.param("org", "STRING", org),
            self.param("provider", "STRING", provider),
            *(self.param(name, "STRING", value) for name, value in strings.items()),
        ]

    def row_params(self, table: str, row: dict[str, Any]) -> list[Any]:
        """One parameter per column of a row of the rows module, typed by the schema file."""
        types = rows.column_types(table)
        params = []
        for column, value in row.items():
            type_ = types[column]
            if type_ == "BYTES":
                type_, value = "STRING", None if value is None else b64(value)
            params.append(self.param(param_name(column), type_, value))
        return params

    def run(self, action: Callable[[], T]) -> T:
        """`action`, rerun on concurrent-update losses; BigQuery's errors become the store's."""
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry

        runs = 0

        def retryable(exc: Exception) -> bool:
            nonlocal runs
            runs += 1
            return isinstance(exc, gexc.GoogleAPICallError) and is_concurrent_update(exc) and runs < self._max_attempts

        def retrying(exc: Exception) -> None:
            log.info(
                "bigquery concurrent update, retrying",
                extra={"attempt": runs, "max_attempts": self._max_attempts, "error": type(exc).__name__},
            )

        # api_core's full jitter: the n-th wait is uniform in [0, min(2 * backoff * 2**(n-1),
        # MAX_BACKOFF_SECONDS)], on average backoff * 2**(n-1) below the cap; racers spread apart.
        retry = Retry(
            predicate=retryable,
            initial=2 * self._backoff,
            maximum=MAX_BACKOFF_SECONDS,
            multiplier=2.0,
            timeout=None,
            on_error=retrying,
        )
        try:
            return retry(action)()
        except gexc.GoogleAPICallError as exc:
            if is_concurrent_update(exc):
                raise ConflictError("Store busy: concurrent updates, try again") from exc
            raise StoreError(f"BigQuery request failed ({type(exc).__name__})") from exc
        except (gexc.RetryError, TimeoutError) as exc:
            raise StoreError(f"BigQuery request failed ({type(exc).__name__})") from exc

    def query(self, sql: str, params: list[Any]) -> tuple[list[Any], int]:
        """One query (a jobs.query call) with parameters: (rows, DML affected rows or 0)."""

        def run_query() -> tuple[list[Any], int]:
            config = self.bq.QueryJobConfig(query_parameters=params, use_legacy_sql=False)
            found = self.client.query_and_wait(sql, job_config=config)
            return list(found), int(found.num_dml_affected_rows or 0)

        return self.run(run_query)

    def close(self) -> None:
        self.client.close()


def _fail_like_bigquery(client: Any) -> None:
    """bqemulator answers a failed jobs.query with 200 and `errors` in the body; BigQuery answers
    with an HTTP error, which is what the client library (and `Dataset.run`) rely on. Make the
    emulator's answer BigQuery's."""
    from google.api_core import exceptions as gexc

    connection = client._connection
    request = connection.api_request

    def api_request(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        answer = request(method, path, *args, **kwargs)
        if method.upper() == "POST" and path.endswith("/queries") and isinstance(answer, dict) and answer.get("errors"):
            errors = answer["errors"]
            raise gexc.from_http_status(400, str(errors[0].get("message", "query failed")), errors=errors)
        return answer

    connection.api_request = api_request
