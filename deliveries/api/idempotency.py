"""Idempotency-Key handling: the first answer to a request is kept 24 hours and replayed for repeats.

The record is inserted, with the answer, as the last write of the request's transaction. A repeat, or a
concurrent duplicate (on PostgreSQL it waits on the unique (api key, idempotency key) index for the first
transaction), fails there, rolls back everything it did, and replays the committed answer; a refused request
looks the key up too, so that a repeat answers the first answer even when the request would now be refused. An
error rolls back with everything else and inserts no record, so a failed request may be retried with the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from deliveries.api.errors import IdempotencyKeyReused, InvalidIdempotencyKey
from deliveries.api.models import ApiKey, IdempotencyRecord
from wacampaigns.row_inserts import row_insert

KEY_MAX_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


class ConcurrentDuplicate(Exception):
    """A request with the same key committed first: answer with its response."""


def request_fingerprint(*, method: str, path: str, payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def idempotency_key_clean(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > KEY_MAX_LENGTH:
        raise InvalidIdempotencyKey(
            f"The Idempotency-Key header must be 1 to {KEY_MAX_LENGTH} characters, e.g. a UUID per operation."
        )
    return key


def _replay_or_refuse(record: IdempotencyRecord, fingerprint: str) -> Replay:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used in the last 24 hours for a different request: use a new key for a new "
            "request, or repeat the first request exactly.",
            details={"idempotency_key": record.key},
        )
    return Replay(record.response_status, record.response_body)


def idempotency_replay(*, api_key: ApiKey, key: str, fingerprint: str) -> Replay | None:
    """A Replay of the first answer, or None for a key not used in the last 24 hours.

    Raises IdempotencyKeyReused for the same key with a different request. An expired record is deleted so that
    the new one can take its place."""
    existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
    if existing is None:
        return None
    if existing.expires_at > timezone.now():
        return _replay_or_refuse(existing, fingerprint)
    IdempotencyRecord.objects.filter(pk=existing.pk).delete()
    return None


def idempotency_record(*, api_key: ApiKey, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
    """The request's last write, in its transaction; raises ConcurrentDuplicate when another request with the key
    committed first (no savepoint: the conflict ends the request's transaction anyway)."""
    try:
        row_insert(
            IdempotencyRecord(
                api_key=api_key,
                key=key,
                request_hash=fingerprint,
                response_status=status,
                response_body=body,
                expires_at=timezone.now() + timedelta(hours=settings.API_IDEMPOTENCY_HOURS),
            )
        )
    except IntegrityError as err:
        raise ConcurrentDuplicate(key) from err


def idempotency_records_prune() -> int:
    """Deletes records past their 24 hours."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
