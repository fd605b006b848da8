"""Every change to an integration: read, change, commit as one unit of work, retried on conflict.

The store gets the integration's new state, the credential rows stored and destroyed with it,
the validation attempt it counts, and the audit and status-change events recording it, all at
once (`Store.commit`): a failure, a lost race or a crash leaves none of it. A change that keeps
losing the race answers 409.

A use case reads once (`snapshot`: the integration, and what it decides on) and hands that read
to `write` as its first try: on BigQuery every read is a query, so a change costs one read and
one commit, and reads again only after losing a race.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, TYPE_CHECKING

from ..domain.errors import ConflictError, InvalidTransitionError, NotConfiguredError
from ..domain.lifecycle import Status
from ..domain.models import CredentialRecord, Integration
from ..ports import Snapshot, Store, Write

if TYPE_CHECKING:
    from ..ports import AttemptWindow
    from .audit import Audit

CAS_ATTEMPTS = 25

# What an audit event records, computed from the integration's new state:
# (action, actor, outcome, fingerprint, details).
AuditSpec = Callable[[Integration], tuple[str, str, str, "str | None", dict[str, Any]]]


@dataclass(frozen=True)
class Plan:
    """One write: the integration's new state (None deletes it) and the credential rows that
    are stored and destroyed with it."""

    item: Integration | None
    put: tuple[CredentialRecord, ...] = ()
    destroy: frozenset[str] = frozenset()
    # A status event worth sending although the status stays (an expiry warning): its message.
    status_note: str | None = None


Change = Callable[[Integration | None], "Integration | Plan | None"]


def busy_error() -> InvalidTransitionError:
    return InvalidTransitionError("The integration is being changed by another request: retry")


class Writes:
    def __init__(self, store: Store, audit: Audit):
        self._store = store
        self._audit = audit

    def require(self, org: str, provider: str) -> Integration:
        item = self._store.get_integration(org, provider)
        if item is None:
            raise NotConfiguredError()
        return item

    def snapshot(self, org: str, provider: str, **asked: Any) -> Snapshot:
        """One read of a configured integration (NotConfiguredError if none) with what was
        `asked` of Store.read (credentials, attempts_since, with_org)."""
        seen = self._store.read(org, provider, **asked)
        if seen.integration is None:
            raise NotConfiguredError()
        return seen

    def write(
        self,
        org: str,
        provider: str,
        change: Change,
        audit: AuditSpec | None = None,
        *,
        first: Snapshot | None = None,
        attempt: AttemptWindow | None = None,
    ) -> Integration:
        """`change` gets the integration as stored now (None: there is none) and returns its new
        state, a Plan, or None for "nothing to do"; it may raise to abort. Returns the saved
        integration (the one deleted, after a delete).

        `first`: the integration as the caller just read it, used for the first try instead of
        reading again. `attempt`: the validation attempt the change counts (RateLimitedError,
        nothing stored, when the window is full)."""
        for n in range(CAS_ATTEMPTS):
            current = first.integration if first is not None and n == 0 else self._store.get_integration(org, provider)
            planned = change(current)
            if planned is None:
                if current is None:
                    raise NotConfiguredError()
                return current
            plan = planned if isinstance(planned, Plan) else Plan(planned)
            subject = plan.item or current
            assert subject is not None
            before = current.status if current else Status.NOT_CONFIGURED
            after = plan.item.status if plan.item else Status.NOT_CONFIGURED
            message = plan.item.status_message if plan.item else None
            if before == after and plan.status_note:
                message = plan.status_note
            announce = before != after or plan.status_note is not None
            events = [self._audit.event(subject, *audit(subject))] if audit else []
            if announce:
                events.append(self._audit.status_event(subject, before, after, message))
            try:
                saved = self._store.commit(
                    Write(
                        org,
                        provider,
                        current.revision if current else None,
                        plan.item,
                        plan.put,
                        plan.destroy,
                        tuple(events),
                        attempt,
                    )
                )
            except ConflictError:
                time.sleep(random.uniform(0.001, 0.02))
                continue
            if announce:
                self._audit.publish_status(subject, before, after, message)
            return saved if saved is not None else subject
        raise busy_error()
