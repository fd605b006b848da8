"""What the service does by itself, on schedule: the daily revalidation of every active
integration, and the recovery of what a crash left behind.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Callable, TYPE_CHECKING

from ..domain.errors import IntegrationsError
from ..domain.lifecycle import Status
from ..logs import bind
from .audit import SYSTEM, quietly
from .credentials import ORPHAN_AGE, Credentials
from .writes import Plan

if TYPE_CHECKING:
    from ..domain.models import Integration
    from .validation import Validation
    from .writes import Writes
    from ..settings import Settings
    from ..registry import Registry
    from ..ports import Store

log = logging.getLogger(__name__)

CONCURRENCY = 4
# How far past its own time bound a validation may still be running: the local queue's and
# Pub/Sub's redelivery backoff between attempts.
REDELIVERY_SLACK = timedelta(seconds=60)
# The scheduler's runs drift by minutes: a weekly check due "in 7 days" runs on the 7th day's run.
DUE_SLACK = timedelta(hours=1)


def stuck_after(settings: Settings) -> timedelta:
    """A validation still pending or validating after this long lost its message (a crash):
    one validation is bounded by VALIDATION_TIMEOUT_SECONDS, redeliveries add their backoff."""
    return timedelta(seconds=settings.validation_timeout_seconds) + REDELIVERY_SLACK


class Revalidation:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        credentials: Credentials,
        validation: Validation,
        writes: Writes,
        settings: Settings,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._registry = registry
        self._credentials = credentials
        self._validation = validation
        self._writes = writes
        self._settings = settings
        self._clock = clock

    def revalidate_all(self) -> str:
        """The daily job: check every active integration again, with bounded concurrency (AWS
        only weekly: its check costs money, see `_due`).

        A key the provider now rejects becomes `expired`, and so does one whose `expires_at` has
        come; one within EXPIRY_WARNING_DAYS of it is warned about once. A transient failure (after the
        validator's own retries) leaves the status alone, records the message, and counts
        toward one more pass at the end of this run; what still fails waits for the next run.
        """
        quietly(self.recover)
        now = self._clock()
        keyed = [i for i in self._store.list_integrations_by_status(Status.ACTIVE.value) if self._has_key(i)]
        items = [i for i in keyed if self._due(i, now)]
        for item in keyed:
            if item not in items:  # not checked today, but warned of its expiry all the same
                quietly(self._warn_of_expiry, item)
        results = self._run(items)
        retry = [item for item, outcome in zip(items, results) if outcome == "transient"]
        if retry:
            time.sleep(min(self._settings.provider_backoff_seconds * 4, 10))
            for item, outcome in zip(retry, self._run(retry)):
                results[items.index(item)] = outcome
        summary = {s: results.count(s) for s in sorted(set(results))}
        if len(keyed) > len(items):  # AWS: weekly, each check costs (registry `revalidate_days`)
            summary["not_due"] = len(keyed) - len(items)
        log.info("revalidation done", extra={"fields": {"checked": len(items), "results": summary}})
        return f"revalidated {len(items)}: {json.dumps(summary, sort_keys=True)}"

    def recover(self, orphan_age: timedelta = ORPHAN_AGE) -> dict[str, int]:
        """After a crash: queue again every validation stuck longer than one can take (its
        message died with the process), and destroy ciphertexts no integration references.

        Run by `serve` at start (the local queue lives in memory) and by the daily revalidation.
        A validation re-queued while it was in fact still running is harmless: it is idempotent.
        """
        now = self._clock()
        requeued = 0
        for item in self._store.list_unsettled_integrations(now - stuck_after(self._settings)):
            bind(org=item.org, provider=item.provider)
            if item.status in (Status.PENDING, Status.VALIDATING) and item.credential:
                self._validation.enqueue(item, item.credential.credential_id, item.credential.version)
                requeued += 1
            if item.rotation and item.rotation.status in ("pending", "validating"):
                self._validation.enqueue(item, item.rotation.credential_id, item.rotation.version)
                requeued += 1
        orphans = self._store.delete_orphan_credentials(now - orphan_age)
        summary = {"requeued": requeued, "orphans_destroyed": orphans}
        log.info("recovery done", extra={"fields": summary})
        return summary

    def _run(self, items: list[Integration]) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            return list(pool.map(self._check, items))

    def _check(self, item: Integration) -> str:
        try:
            bind(org=item.org, provider=item.provider)
            current = self._store.get_integration(item.org, item.provider)
            if current is None or current.status is not Status.ACTIVE:
                return "skipped"
            current = self._warn_of_expiry(current)
            after, result = self._validation.check(
                current, self._credentials.open(current, "current"), "current", SYSTEM, inline=True, action="revalidate"
            )
            return "transient" if result is not None and result.transient else after.status.value
        except Exception:  # noqa: BLE001 - one bad integration never stops the run
            log.exception("revalidation failed")
            return "failed"

    def _due(self, item: Integration, now: datetime) -> bool:
        """Daily, except a provider whose check costs money: AWS's Cost Explorer request ($0.01)
        is made at most once a week (`revalidate_days` in configs/providers.yml), a day's drift
        of the scheduler allowed for."""
        days = self._registry.get(item.provider).revalidate_days
        last = item.last_validated_at
        expires = item.credential.expires_at if item.credential else None
        if expires is not None and now.date() >= expires:
            return True  # expired on the day, without asking the provider: costs nothing
        return days <= 1 or last is None or now - last >= timedelta(days=days) - DUE_SLACK

    def _warn_of_expiry(self, item: Integration) -> Integration:
        """Once per credential, when its expiry date is near: an `expiry_warning` audit event and a
        status event whose status stays, with the date. On the day itself the check expires it."""
        ref = item.credential
        if ref is None or ref.expires_at is None or ref.expiry_warned_at is not None:
            return item
        now = self._clock()
        days = (ref.expires_at - now.date()).days
        if not 0 < days <= self._settings.expiry_warning_days:
            return item
        note = (
            f"Credential expires soon: on {ref.expires_at.isoformat()}, in {days} day{'s' if days > 1 else ''}: "
            "set up or rotate to a new credential before then"
        )

        def change(current: Integration | None) -> Plan | None:
            cred = current.credential if current else None
            if current is None or cred is None or cred.credential_id != ref.credential_id or cred.expiry_warned_at:
                return None  # replaced, or warned by a concurrent run
            warned = cred.model_copy(update={"expiry_warned_at": now})
            return Plan(current.model_copy(update={"credential": warned}), status_note=note)

        details = {"expires_at": ref.expires_at.isoformat(), "days_left": days}
        try:
            return self._writes.write(
                item.org,
                item.provider,
                change,
                audit=lambda i: ("expiry_warning", SYSTEM, "ok", i.fingerprint, details),
            )
        except IntegrationsError:  # deleted meanwhile: nothing to warn about
            return item

    def _has_key(self, item: Integration) -> bool:
        try:
            return not self._registry.get(item.provider).manual
        except IntegrationsError:  # a provider removed from the registry: nothing to call
            return False
