"""Organisations and their API keys: create, authenticate, rotate, revoke.

A key is shown once; only its SHA-256 is stored, and keys are compared in constant time.

Verified keys are kept per instance for `key_ttl` seconds (the container: KEY_TTL_SECONDS on
BigQuery, where a lookup is a query of 0.5-2 s; none on SQLite): a request within that time
authenticates without asking the store. Rotating or revoking a key forgets the org's keys of
the instance that does it at once; every other instance (in production: every function
instance, the CLI being a process of its own) stops accepting the old key within `key_ttl`.
Wrong keys are never kept: each one is looked up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Callable, TYPE_CHECKING

from ..domain.errors import ForbiddenError, IntegrationsError, UnauthorizedError
from ..domain.models import Org
from .requests import Actor, check_org_slug

if TYPE_CHECKING:
    from .org_keys import VerifiedKeys
    from ..ports import Store
    from datetime import datetime


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _new_key() -> tuple[str, str, str]:
    """(api key, its id, its hash)."""
    api_key = "itg_" + secrets.token_urlsafe(32)
    key_hash = hash_api_key(api_key)
    return api_key, "key_" + key_hash[:12], key_hash


KEY_TTL_SECONDS = 30.0


class Orgs:
    def __init__(self, store: Store, clock: Callable[[], datetime], key_ttl: float = 0.0):
        self._store = store
        self._clock = clock
        self._verified: VerifiedKeys | None = None
        if key_ttl > 0:  # imported only where keys are kept (BigQuery): cold starts on SQLite skip it
            from .org_keys import VerifiedKeys

            self._verified = VerifiedKeys(key_ttl)

    def create_org(self, slug: str) -> str:
        """Create an org; return its API key (shown once: only its SHA-256 is stored)."""
        check_org_slug(slug)
        api_key, key_id, key_hash = _new_key()
        self._store.create_org(Org(slug=slug, api_key_id=key_id, api_key_hash=key_hash, created_at=self._clock()))
        return api_key

    def authenticate(self, api_key: str | None, org: str) -> Actor:
        if not api_key:
            raise UnauthorizedError()
        key_hash = hash_api_key(api_key)
        found = self._verified.get(key_hash) if self._verified else None
        if found is None:
            found = self._store.find_org_by_key_hash(key_hash)
            if found is None or not hmac.compare_digest(found.api_key_hash, key_hash):
                raise UnauthorizedError()
            if self._verified:
                self._verified.put(key_hash, found)
        check_org_slug(org)
        if not hmac.compare_digest(found.slug.encode(), org.encode()):
            raise ForbiddenError()
        return Actor(org=found.slug, key_id=found.api_key_id)

    def rotate_org_key(self, slug: str) -> str:
        """Give an org a new API key (returned, shown once); the old one is refused from now on."""
        check_org_slug(slug)
        api_key, key_id, key_hash = _new_key()
        self._replace(slug, key_id, key_hash)
        return api_key

    def revoke_org_key(self, slug: str) -> None:
        """Refuse the org's API key from now on; no key works until rotate_org_key."""
        check_org_slug(slug)
        # A marker no SHA-256 hex digest equals, unique per revocation (the hash column is unique).
        self._replace(slug, "key_revoked", "revoked:" + secrets.token_hex(16))

    def _replace(self, slug: str, key_id: str, key_hash: str) -> None:
        try:
            if not self._store.replace_org_key(slug, key_id, key_hash, self._clock()):
                raise IntegrationsError("Organization not found", code="not_found")
        finally:
            if self._verified:  # also what a request verified while the key was being replaced
                self._verified.forget(slug)
