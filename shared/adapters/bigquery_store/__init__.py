"""The Store on BigQuery, in as few jobs as it can (docs/performance.md counts them).

Every query is one jobs.query call in short-query mode. Rows that are updated or deleted
(orgs, integrations, ciphertexts, attempts) are only ever written by DML: rows in the
streaming buffer cannot be changed by DML for a while. Audit events, never changed, are
streamed (events.py).

BigQuery has no unique keys and no row locks, so:
- updates and deletes are compare-and-set on `revision` (0 rows -> ConflictError);
- a first insert of an integration, and a validation attempt, also update their org's gate
  row (gates.py), which BigQuery serializes; lone first inserts of orgs and ciphertexts
  claim, then confirm (claims.py);
- a `Write` is one statement, or one multi-statement transaction when it spans tables
  (unit.py); a use case's read is one SELECT (unit.read).

Modules: dataset.py (client, queries, retry of concurrent-update losses), sqltext.py (values
as parameters, or as safe literals for scripts), schema.py (dataset and tables), gates.py,
claims.py, one module per table (orgs, integrations, credentials, attempts, events), unit.py;
store.py puts them behind the Store port. Rows are mapped by ../rows.py from
configs/schemas/*.json (read by Terraform too). The google-cloud-bigquery import is lazy:
embedded defaults never pay for it.
"""

from ..rows import SCHEMA_DIR, TABLES, load_schema
from .schema import CLUSTERING
from .store import BigQueryStore

__all__ = ["CLUSTERING", "SCHEMA_DIR", "TABLES", "BigQueryStore", "load_schema"]
