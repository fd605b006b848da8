"""The Store on BigQuery: every write is a parameterized DML query job, never a streaming insert.

Why DML only: rows in the streaming buffer cannot be updated or deleted for up to
90 minutes, and every row here is updated or deleted sooner or later.

BigQuery has no unique keys, no row locks and no transaction over several tables here, so:
- first-time inserts (orgs, integrations, credentials) claim, then confirm (claims.py);
- updates and deletes are compare-and-set on `revision` (0 rows -> ConflictError);
- the rate limit serializes its callers on a gate row (attempts.py);
- a `Write` is stored in ordered steps (../ordered_commit.py).

Modules: dataset.py (client, query jobs, retry of concurrent-update losses), schema.py
(dataset and tables), claims.py, then one module per table: orgs, integrations,
credentials, attempts, events; store.py puts them behind the Store port. Rows are mapped
by ../rows.py from configs/schemas/*.json (read by Terraform too). The
google-cloud-bigquery import is lazy: embedded defaults never pay for it.
"""

from ..rows import SCHEMA_DIR, TABLES, load_schema
from .schema import CLUSTERING
from .store import BigQueryStore

__all__ = ["CLUSTERING", "SCHEMA_DIR", "TABLES", "BigQueryStore", "load_schema"]
