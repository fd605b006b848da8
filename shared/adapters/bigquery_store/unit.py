"""A unit of work (`Write`) in one BigQuery job, and a use case's read in one query.

`commit`:
- a change of the integration alone (disable, edit, a verdict...) is one statement:
  compare-and-set UPDATE, DELETE, or the gate MERGE of a first insert (gates.py);
- a change that also counts a validation attempt or stores or destroys ciphertexts is one
  multi-statement transaction: a check that raises unless everything is still as the write
  read it (the integration at its revision, room in the rate-limit window, the new
  credential ids unused), then the attempt's MERGE, the new ciphertexts, the integration's
  statement, the destroyed ciphertexts. All or nothing; two concurrent transactions that
  change a common row (the integration, or a gate) cannot both commit. The script carries
  its values as literals (sqltext.Literals): bqemulator does not run a parameterized script.
- the audit events follow by streaming (events.py): a process dying in between loses
  them, the one gap (the change itself is whole).

`read`: the integration, every ciphertext of its org/provider and the attempts of the
rate-limit window, joined into one SELECT.
"""

from __future__ import annotations

from datetime import datetime

from ...domain.errors import ConflictError, StoreError
from ...domain.models import Integration, Org
from ...ports import Snapshot, Write
from .. import rows
from . import attempts, credentials, events, integrations, orgs
from .claims import CREDENTIAL_CONFIRMED, INTEGRATION_CONFIRMED, ORG_CONFIRMED
from .dataset import Dataset
from .gates import GATE_ID
from .sqltext import Bind, Literals, Params

CONFLICT = "integrations:conflict"
RATE_LIMITED = "integrations:rate_limited"


def commit(ds: Dataset, write: Write) -> Integration | None:
    if write.attempt or write.put_credentials or write.delete_credentials:
        saved = _transaction(ds, write)
    else:
        saved = _statement(ds, write)
    events.append(ds, write.events)
    return saved


def _saved(write: Write) -> Integration | None:
    if write.integration is None:
        return None
    revision = 1 if write.expected_revision is None else write.expected_revision + 1
    return rows.stored_integration(write.integration, revision)


def _integration_sql(ds: Dataset, bind: Bind, write: Write) -> str | None:
    item, expected = write.integration, write.expected_revision
    if item is None:
        return None if expected is None else integrations.delete_sql(ds, bind, write.org, write.provider, expected)
    if expected is None:
        return integrations.insert_sql(ds, bind, item)
    return integrations.update_sql(ds, bind, item, expected)


def _statement(ds: Dataset, write: Write) -> Integration | None:
    bind = Params()
    sql = _integration_sql(ds, bind, write)
    if sql is not None:
        _, changed = ds.query(sql, bind.params)
        inserted = write.integration is not None and write.expected_revision is None
        if not (changed >= 2 if inserted else changed == 1):  # an insert also touches the gate
            raise ConflictError("Integration changed since it was read")
    return _saved(write)


def _transaction(ds: Dataset, write: Write) -> Integration | None:
    bind = Literals()
    org, provider = write.org, write.provider
    conflict = f"ERROR('{CONFLICT}')"
    check = f"IF({integrations.found_sql(ds, bind, org, provider, write.expected_revision)}, 1, {conflict})"
    steps = []
    if write.put_credentials:
        ids = [r.credential_id for r in write.put_credentials]
        check = f"IF({credentials.absent_sql(ds, bind, org, provider, ids)}, {check}, {conflict})"
    if write.attempt:
        a = write.attempt
        room = attempts.room_sql(ds, bind, org, provider, rows.ms(a.now), a.seconds, a.limit)
        check = f"IF({room}, {check}, ERROR('{RATE_LIMITED}'))"
        steps.append(attempts.merge_sql(ds, bind, org, provider, a.now, a.seconds, None))  # room: checked above
    if write.put_credentials:
        steps.append(credentials.insert_sql(ds, bind, write.put_credentials))
    change = _integration_sql(ds, bind, write)
    if change is not None:
        steps.append(change)
    if write.delete_credentials:
        steps.append(credentials.delete_sql(ds, bind, org, provider, write.delete_credentials))
    script = ";\n".join(["BEGIN TRANSACTION", f"SELECT {check} AS ok", *steps, "COMMIT TRANSACTION"]) + ";"
    try:
        ds.query(script, [])
    except StoreError as exc:
        said = str(exc.__cause__ or "")
        if CONFLICT in said:
            raise ConflictError("Integration changed since it was read") from None
        if RATE_LIMITED in said and write.attempt:
            a = write.attempt
            raise attempts.refused(ds, org, provider, a.now, a.seconds).error() from None
        raise
    return _saved(write)


def read(
    ds: Dataset, org: str, provider: str, *, with_credentials: bool, attempts_since: datetime | None, with_org: bool
) -> Snapshot:
    bind = Params()
    owner = f"org_slug = {bind.value('STRING', org)} AND provider = {bind.value('STRING', provider)}"
    select = ["a.attempts", "a.oldest"]
    if attempts_since is None:
        base = "(SELECT 0 AS attempts, CAST(NULL AS TIMESTAMP) AS oldest) a"
    else:
        base = (
            f"(SELECT COUNT(*) AS attempts, MIN(`at`) AS oldest FROM {ds.table(attempts.TABLE)} WHERE {owner} "
            f"AND attempt_id != '{GATE_ID}' AND `at` > {bind.value('TIMESTAMP', rows.ms(attempts_since))}) a"
        )
    joins = [
        f"LEFT JOIN (SELECT * FROM {ds.table(integrations.TABLE)} WHERE {owner} AND {INTEGRATION_CONFIRMED}) i ON TRUE"
    ]
    select += [f"i.`{c.name}` AS i__{c.name}" for c in rows.columns(integrations.TABLE)]
    if with_credentials:
        joins.append(
            f"LEFT JOIN (SELECT * FROM {ds.table(credentials.TABLE)} WHERE {owner} AND {CREDENTIAL_CONFIRMED}) c ON TRUE"
        )
        select += [f"c.`{c.name}` AS c__{c.name}" for c in rows.columns(credentials.TABLE)]
    if with_org:
        joins.append(
            f"LEFT JOIN (SELECT * FROM {ds.table(orgs.TABLE)} WHERE org_slug = {bind.value('STRING', org)} "
            f"AND {ORG_CONFIRMED} ORDER BY created_at LIMIT 1) o ON TRUE"
        )
        select += [f"o.`{c.name}` AS o__{c.name}" for c in rows.columns(orgs.TABLE)]
    found, _ = ds.query(f"SELECT {', '.join(select)} FROM {base} {' '.join(joins)}", bind.params)
    first = found[0] if found else None
    item = None
    if first is not None and first["i__revision"] is not None:
        item = rows.integration_of({c.name: first[f"i__{c.name}"] for c in rows.columns(integrations.TABLE)})
    stored = []
    if with_credentials:
        names = [c.name for c in rows.columns(credentials.TABLE)]
        stored = [
            rows.credential_of({n: r[f"c__{n}"] for n in names}) for r in found if r["c__credential_id"] is not None
        ]
    return Snapshot(
        integration=item,
        credentials=tuple(sorted(stored, key=lambda r: r.credential_id)),
        attempts=int(first["attempts"]) if first is not None else 0,
        oldest_attempt=rows.utc(first["oldest"]) if first is not None else None,
        org=_org(first) if with_org and first is not None else None,
    )


def _org(row: dict) -> Org | None:
    if row["o__org_slug"] is None:
        return None
    return rows.org_of({c.name: row[f"o__{c.name}"] for c in rows.columns(orgs.TABLE)})
