"""API keys: generation (shown once), SHA-256 hashing, authentication, revocation and per-key rate limits.

A key is `wac_<prefix>_<secret>` with 256 bits of randomness in the secret; only SHA-256 of the whole key is
stored (a high-entropy key needs no slow hash). The prefix finds the row; the hash is compared in constant time.
"""

import hashlib
import hmac
import math
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deliveries.api.errors import InvalidApiKey, RateLimited, RevokedApiKey
from deliveries.api.models import ApiKey, ApiKeyRequestCount
from wacampaigns.minute_counts import minute_count_in_cache, minute_count_in_table
from wacampaigns.models import BusinessAccount
from wacampaigns.sqlite_writes import sqlite_write_turn

KEY_SCHEME = "wac"
# last_used_at is written at most this often per key, so that authenticating is not a write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
RATE_WINDOW_SECONDS = 60


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, name: str, business_account: BusinessAccount, created_by=None, rate_limit_per_minute: int | None = None
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with its plain value, which is never stored and cannot be shown again."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name,
        business_account=business_account,
        prefix=prefix,
        key_hash=api_key_hash(key),
        created_by=created_by,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revokes the key at once: its next request is answered 401 revoked_api_key."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])


def api_key_authenticate(key: str) -> ApiKey:
    """The live key for a bearer token; raises InvalidApiKey or RevokedApiKey."""
    scheme, _, rest = (key or "").partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != KEY_SCHEME or not prefix or not secret:
        raise InvalidApiKey("The API key is missing or malformed: send `Authorization: Bearer wac_…`.")
    api_key = ApiKey.objects.select_related("business_account").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, api_key_hash(key)):
        raise InvalidApiKey("The API key is not valid: check that it was copied whole, or create a new one.")
    if api_key.revoked_at is not None:
        raise RevokedApiKey("The API key was revoked: ask an administrator for a new one.")
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def api_key_rate_limit_take(api_key: ApiKey) -> None:
    """Counts one request in the key's current minute; raises RateLimited (with the seconds to wait) past the limit.

    The count is shared by every web process: Redis's atomic INCR when Redis is configured, otherwise a row per
    key and minute counted by one atomic upsert (the database cache's `incr` reads then writes, so concurrent
    requests on PostgreSQL overwrote each other's counts, and each count also paid the cache's cull COUNT(*)).
    """
    limit = api_key.rate_limit_per_minute or settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    minute = int(now // RATE_WINDOW_SECONDS)
    if settings.REDIS_URL:
        count = minute_count_in_cache(f"api-rate:{api_key.pk}:{minute}", timeout=RATE_WINDOW_SECONDS * 2)
    else:
        with sqlite_write_turn():
            count = _count_in_table(api_key.pk, minute)
    if count > limit:
        retry_after = max(1, math.ceil((minute + 1) * RATE_WINDOW_SECONDS - now))
        raise RateLimited(
            f"More than {limit} requests this minute for this key: retry after {retry_after} s.",
            retry_after=retry_after,
        )


def _count_in_table(api_key_id: int, minute: int) -> int:
    count = minute_count_in_table(ApiKeyRequestCount, minute=minute, api_key_id=api_key_id)
    if count == 1:  # the key's first request this minute: only the previous minute may still be counted in
        ApiKeyRequestCount.objects.filter(api_key_id=api_key_id, minute__lt=minute - 1).delete()
    return count
