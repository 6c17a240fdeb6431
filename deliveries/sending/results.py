"""Send results → rows, in bulk: what each answer (or error) means for the row, and the writes that record it.

design.md decisions 3 and 6: a Graph error body means Meta answered and did not send; a connect failure
means not sent; both are retried (when the code is retryable) with exponential backoff and jitter up to
SENDER_MAX_ATTEMPTS. An error that may have been sent makes the row ambiguous. Results are written with
conditional UPDATEs, so a status webhook that got there first (by callback data) is never undone.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus
from deliveries.sending.sql import is_postgresql, update_from_values
from wacampaigns.whatsapp.client import SendResult
from wacampaigns.whatsapp.errors import (
    CloudApiError,
    ErrorClass,
    GraphApiError,
    MarketingLimitError,
    ThroughputLimitError,
)

logger = logging.getLogger(__name__)
TABLE = Delivery._meta.db_table
# PostgreSQL's SQLSTATE for "deadlock detected"; the transaction it aborted can simply be run again.
DEADLOCK_DETECTED = "40P01"
DEADLOCK_ATTEMPTS = 3
OPEN_FOR_RESULT = "t.status IN ('sending', 'ambiguous')"


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    AMBIGUOUS = "ambiguous"
    RETRY = "retry"  # back to the queue, not before `not_before`
    FAILED = "failed"
    TEMPLATE_STOPPED = "template_stopped"  # back to the queue; the template's campaigns pause
    ACCOUNT_STOPPED = "account_stopped"  # back to the queue; the account stops


@dataclass
class Outcome:
    """What one send attempt means for its row."""

    delivery_id: int
    verdict: Verdict
    wamid: str | None = None
    held: bool = False
    not_before: datetime | None = None
    error: CloudApiError | None = None
    # 130429 is our pacing, not the recipient's problem: it does not use up an attempt.
    counts_as_attempt: bool = True


def backoff_seconds(error: CloudApiError, attempt: int, *, rng: random.Random = random) -> float:  # type: ignore[assignment]
    """Exponential backoff (Meta's own suggestion where it gives one) with equal jitter, capped."""
    suggested = error.backoff_seconds(attempt) if isinstance(error, GraphApiError) else None
    if suggested is None:
        base = max(settings.SENDER_BACKOFF_BASE_SECONDS, error.retry_after_seconds or 0)
        suggested = base * 2 ** max(attempt - 1, 0)
    delay = min(settings.SENDER_BACKOFF_MAX_SECONDS, suggested)
    return delay / 2 + rng.uniform(0, delay / 2)


def outcome_for_result(
    delivery_id: int,
    answer: SendResult | CloudApiError,
    *,
    attempt: int,
    now: datetime | None = None,
    rng: random.Random = random,
) -> Outcome:  # type: ignore[assignment]
    """Classify one answer; `attempt` is the attempt number just made (1-based)."""
    now = now or timezone.now()
    if isinstance(answer, SendResult):
        return Outcome(delivery_id, Verdict.ACCEPTED, wamid=answer.wamid, held=answer.is_held)
    error = answer
    if error.may_have_been_sent:
        return Outcome(delivery_id, Verdict.AMBIGUOUS, error=error)
    if error.error_class == ErrorClass.ACCOUNT:
        return Outcome(delivery_id, Verdict.ACCOUNT_STOPPED, not_before=now, error=error, counts_as_attempt=False)
    if error.error_class == ErrorClass.TEMPLATE:
        return Outcome(delivery_id, Verdict.TEMPLATE_STOPPED, not_before=now, error=error, counts_as_attempt=False)
    if isinstance(error, ThroughputLimitError):
        delay = timedelta(seconds=0.5 + rng.uniform(0, 1.0))
        return Outcome(delivery_id, Verdict.RETRY, not_before=now + delay, error=error, counts_as_attempt=False)
    if isinstance(error, MarketingLimitError):
        # 131049: retrying within 24 h makes it worse (reference §4.5); "retry failed" offers it after 24 h.
        return Outcome(delivery_id, Verdict.FAILED, error=error)
    if error.error_class == ErrorClass.RETRYABLE:
        if attempt >= settings.SENDER_MAX_ATTEMPTS:
            return Outcome(delivery_id, Verdict.FAILED, error=error)
        delay = timedelta(seconds=backoff_seconds(error, attempt, rng=rng))
        return Outcome(delivery_id, Verdict.RETRY, not_before=now + delay, error=error)
    return Outcome(delivery_id, Verdict.FAILED, error=error)


def _error_fields(error: CloudApiError | None) -> tuple:
    if error is None:
        return None, None, "", "", ""
    if isinstance(error, GraphApiError):
        return error.code, error.subcode, str(error.error_class), error.title[:255], error.details or error.message
    return None, None, str(error.error_class), type(error).__name__, str(error)


def outcomes_write(outcomes: list[Outcome], *, token, now: datetime | None = None) -> None:
    """Records a set of outcomes with one UPDATE per kind, in one transaction.

    A webhook's status merge updates some of the same rows, locking them in its own order, so PostgreSQL may abort
    one of the two as a deadlock: the outcomes, still unwritten then, are written again (DEADLOCK_ATTEMPTS in all).
    """
    now = now or timezone.now()
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _outcomes_write(outcomes, token=token, now=now)
            return
        except OperationalError as err:
            if getattr(err.__cause__, "sqlstate", None) != DEADLOCK_DETECTED or attempt == DEADLOCK_ATTEMPTS:
                raise
            logger.warning(
                "Writing %s send outcomes deadlocked (attempt %s): writing them again", len(outcomes), attempt
            )


def _outcomes_write(outcomes: list[Outcome], *, token, now: datetime) -> None:
    token_value = token if is_postgresql() else token.hex
    accepted = [o for o in outcomes if o.verdict == Verdict.ACCEPTED]
    if accepted:
        # The wamid is stored unless a webhook already stored it; the status only moves forward.
        update_from_values(
            table=TABLE,
            columns=[("id", "bigint"), ("wamid", "text"), ("new_status", "text")],
            rows=[
                (o.delivery_id, o.wamid, DeliveryStatus.HELD if o.held else DeliveryStatus.ACCEPTED) for o in accepted
            ],
            assignments=(
                "wamid = COALESCE(t.wamid, v.wamid), accepted_at = COALESCE(t.accepted_at, %s), "
                "held_at = CASE WHEN v.new_status = 'held' THEN COALESCE(t.held_at, %s) ELSE t.held_at END, "
                f"status = CASE WHEN {OPEN_FOR_RESULT} THEN v.new_status ELSE t.status END, "
                "claim_token = NULL"
            ),
            where="t.wamid IS NULL OR t.wamid = v.wamid",
            assignment_params=[now, now],
        )
    ambiguous = [o for o in outcomes if o.verdict == Verdict.AMBIGUOUS]
    if ambiguous:
        update_from_values(
            table=TABLE,
            columns=[("id", "bigint"), ("details", "text")],
            rows=[(o.delivery_id, str(o.error)[:2000]) for o in ambiguous],
            assignments=(
                "status = 'ambiguous', claim_token = NULL, error_title = 'No answer', error_details = v.details"
            ),
            where="t.status = 'sending'",
        )
    waiting = [o for o in outcomes if o.verdict in (Verdict.RETRY, Verdict.TEMPLATE_STOPPED, Verdict.ACCOUNT_STOPPED)]
    if waiting:
        update_from_values(
            table=TABLE,
            columns=[
                ("id", "bigint"),
                ("not_before", "timestamptz"),
                ("refund", "integer"),
                ("code", "integer"),
                ("subcode", "integer"),
                ("class", "text"),
                ("title", "text"),
                ("details", "text"),
            ],
            rows=[
                (o.delivery_id, o.not_before, 0 if o.counts_as_attempt else 1, *_error_fields(o.error)) for o in waiting
            ],
            assignments=(
                "status = 'queued', claim_token = NULL, claimed_at = NULL, attempted_at = NULL, "
                "not_before = v.not_before, attempts = t.attempts - v.refund, error_code = v.code, "
                "error_subcode = v.subcode, error_class = v.class, error_title = v.title, error_details = v.details"
            ),
            where="t.status = 'sending' AND t.claim_token = %s",
            where_params=[token_value],
        )
    failed = [o for o in outcomes if o.verdict == Verdict.FAILED]
    if failed:
        update_from_values(
            table=TABLE,
            columns=[
                ("id", "bigint"),
                ("code", "integer"),
                ("subcode", "integer"),
                ("class", "text"),
                ("title", "text"),
                ("details", "text"),
            ],
            rows=[(o.delivery_id, *_error_fields(o.error)) for o in failed],
            assignments=(
                "status = 'failed', failed_at = %s, claim_token = NULL, error_code = v.code, "
                "error_subcode = v.subcode, error_class = v.class, error_title = v.title, error_details = v.details"
            ),
            where=OPEN_FOR_RESULT,
            assignment_params=[now],
        )


def components_param(components) -> str:
    return json.dumps(components, separators=(",", ":"))
