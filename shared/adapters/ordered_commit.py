"""A unit of work on a store without multi-table transactions, step by step, in the order
that keeps a failure harmless.

1. the new credential rows (an orphan, if the steps after fail or the process dies here,
   is referenced by nothing and collected by `delete_orphan_credentials`);
2. the integration, compare-and-set (a lost race removes the rows of step 1);
3. the replaced credential rows (a leftover is again an orphan);
4. the audit events.

A process dying between 2 and 4 loses the change's audit events: the one gap this order
cannot close without a transaction spanning tables.
"""

from __future__ import annotations

import logging
from typing import Any

from ..domain.errors import ConflictError
from ..domain.models import Integration
from ..ports import Write

log = logging.getLogger(__name__)


def commit_in_order(store: Any, write: Write) -> Integration | None:
    stored: list[str] = []
    try:
        for record in write.put_credentials:
            store.put_credential(record)
            stored.append(record.credential_id)
        saved = _save(store, write)
    except BaseException:
        for credential_id in stored:
            try:
                store.delete_credential(write.org, write.provider, credential_id)
            except Exception:  # noqa: BLE001 - an orphan is collected later; the first error matters
                log.warning("could not remove a credential row of a failed write; it is an orphan now")
        raise
    for credential_id in sorted(write.delete_credentials):
        store.delete_credential(write.org, write.provider, credential_id)
    for event in write.events:
        store.append_event(event)
    return saved


def _save(store: Any, write: Write) -> Integration | None:
    item, expected = write.integration, write.expected_revision
    if item is None:
        if expected is not None:
            store.delete_integration(write.org, write.provider, expected)
        return None
    if expected is None:
        return store.insert_integration(item)
    saved = store.update_integration(item, expected)
    if saved is None:  # pragma: no cover - adapters raise ConflictError instead
        raise ConflictError("Integration changed since it was read")
    return saved
