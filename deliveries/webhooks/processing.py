"""Processing stored webhooks: parse, route, apply, record the outcome, for a batch of rows or for one.

The drainer (`deliveries.webhooks.draining`) hands a batch of pending rows to `webhook_events_process_batch`:
the status events of every row go to one `delivery_statuses_apply` call (set-based and order-independent, so
merging POSTs changes nothing), the other events are applied row by row in arrival order, and the rows are
marked in a few UPDATEs, all in one transaction. If the batch fails, each row is processed on its own
(`webhook_event_process`), so one bad payload keeps its error and attempt count for the periodic retry
(`deliveries.webhooks.reprocessing`) while the others go through. Only a failure to write that outcome (the
database itself) propagates.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import transaction
from django.db.models import F, Lookup
from django.utils import timezone

from deliveries.models import WebhookEvent, WebhookProcessingState
from deliveries.webhooks.account_events import (
    account_update_receive,
    business_capability_receive,
    phone_number_quality_receive,
    template_event_receive,
)
from deliveries.webhooks.inbound import inbound_message_receive, user_preference_receive
from deliveries.webhooks.routing import RoutedEvent, webhook_events_route
from deliveries.webhooks.statuses import delivery_statuses_apply
from wacampaigns.sqlite_writes import sqlite_write_turn
from wacampaigns.whatsapp.events import (
    AccountUpdateEvent,
    BusinessCapabilityEvent,
    InboundMessageEvent,
    MessageStatusEvent,
    PhoneNumberQualityEvent,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
    UnknownEvent,
    UserPreferenceEvent,
    WebhookErrorsEvent,
    parse_webhook,
)

logger = logging.getLogger(__name__)


class _AnyOf(Lookup):
    """`column = ANY(%s)` with one array parameter on PostgreSQL, `IN (…)` elsewhere.

    A batch's ids as an IN list are one placeholder each that Django compiles and psycopg quotes.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*lhs_params, *self.rhs]


def _with_ids(ids: Sequence[int]) -> _AnyOf:
    return _AnyOf(F("pk"), list(ids))


@dataclass(frozen=True, slots=True)
class BatchResult:
    """How a batch ended: rows applied together, and rows that went through one by one (after a failure)."""

    processed: int = 0
    unrouted: int = 0
    failed: int = 0
    one_by_one: int = 0


@dataclass(slots=True)
class _Prepared:
    """One raw row, parsed and routed, with the state it ends in if its events apply."""

    webhook_event: WebhookEvent
    routed: list[RoutedEvent]
    state: WebhookProcessingState
    business_account_id: int | None


def _statuses(routed: Sequence[RoutedEvent]) -> list[MessageStatusEvent]:
    return [r.event for r in routed if isinstance(r.event, MessageStatusEvent)]


def _apply_others(routed: Sequence[RoutedEvent], webhook_event: WebhookEvent) -> None:
    for item in routed:
        event, account = item.event, item.business_account
        if isinstance(event, MessageStatusEvent):
            continue
        if isinstance(event, InboundMessageEvent):
            inbound_message_receive(
                event=event, business_account=account, phone_number=item.phone_number, webhook_event=webhook_event
            )
        elif isinstance(event, UserPreferenceEvent):
            user_preference_receive(event=event, fallback_time=webhook_event.received_at)
        elif isinstance(event, TemplateStatusEvent | TemplateQualityEvent | TemplateCategoryEvent):
            template_event_receive(business_account=account, event=event)
        elif isinstance(event, PhoneNumberQualityEvent):
            phone_number_quality_receive(business_account=account, event=event)
        elif isinstance(event, AccountUpdateEvent):
            account_update_receive(business_account=account, event=event)
        elif isinstance(event, BusinessCapabilityEvent):
            business_capability_receive(business_account=account, event=event)
        elif isinstance(event, WebhookErrorsEvent):
            logger.warning("Meta reported errors for %s: %s", account, [str(error) for error in event.errors])
        elif isinstance(event, UnknownEvent):
            logger.info("Webhook field %r for %s kept in the raw event only", event.field_name, account)


def _prepare(webhook_event: WebhookEvent, payload: Any = None) -> _Prepared:
    events = parse_webhook(json.loads(webhook_event.raw_body) if payload is None else payload)
    routed = webhook_events_route(events, meta_app_id=webhook_event.meta_app_id)
    if events and not routed:
        logger.warning("Webhook %s names no account of this installation: unrouted", webhook_event.pk)
        return _Prepared(webhook_event, [], WebhookProcessingState.UNROUTED, None)
    if len(routed) < len(events):
        logger.warning("Webhook %s: %d events for unknown accounts", webhook_event.pk, len(events) - len(routed))
    account_id = routed[0].business_account.pk if routed else None
    return _Prepared(webhook_event, routed, WebhookProcessingState.PROCESSED, account_id)


def _mark(prepared: Sequence[_Prepared]) -> None:
    """One UPDATE per (state, account) group: usually one for the whole batch."""
    now = timezone.now()
    groups: dict[tuple, list[int]] = defaultdict(list)
    for item in prepared:
        groups[(item.state, item.business_account_id)].append(item.webhook_event.pk)
    for (state, account_id), ids in groups.items():
        WebhookEvent.objects.filter(_with_ids(ids)).update(
            state=state,
            processed_at=now if state == WebhookProcessingState.PROCESSED else None,
            processing_error="",
            business_account_id=account_id,
            attempts=F("attempts") + 1,
        )


def _error_text(err: BaseException) -> str:
    return "".join(traceback.format_exception_only(err)).strip()[:4000]


def _outcome(webhook_event: WebhookEvent, **fields: Any) -> None:
    WebhookEvent.objects.filter(pk=webhook_event.pk).update(attempts=F("attempts") + 1, **fields)
    webhook_event.attempts += 1
    for name, value in fields.items():
        setattr(webhook_event, name, value)


def webhook_event_process(*, webhook_event: WebhookEvent, payload: Any = None) -> WebhookProcessingState:
    """Applies one stored webhook (its decoded `payload` may be passed to save parsing it again).

    A row another process finished meanwhile (its state no longer the one loaded) is left alone.
    """
    try:
        with transaction.atomic():
            still_due = (
                WebhookEvent.objects.select_for_update()
                .filter(pk=webhook_event.pk, state=webhook_event.state)
                .exclude(state=WebhookProcessingState.PROCESSED)
                .exists()
            )
            if not still_due:
                webhook_event.refresh_from_db(fields=["state", "attempts", "processed_at", "processing_error"])
                return webhook_event.state
            prepared = _prepare(webhook_event, payload)
            statuses = _statuses(prepared.routed)
            if statuses:
                delivery_statuses_apply(events=statuses)
            _apply_others(prepared.routed, webhook_event)
            _outcome(
                webhook_event,
                state=prepared.state,
                processed_at=timezone.now() if prepared.state == WebhookProcessingState.PROCESSED else None,
                processing_error="",
                business_account_id=prepared.business_account_id,
            )
    # Not hidden: the error is stored on the raw row, logged, and the row is retried.
    except Exception as err:
        logger.exception("Webhook %s failed to process; kept for retry", webhook_event.pk)
        _outcome(webhook_event, state=WebhookProcessingState.FAILED, processing_error=_error_text(err))
    return webhook_event.state


def _one_by_one(webhook_events: Sequence[WebhookEvent]) -> list[WebhookProcessingState]:
    return [webhook_event_process(webhook_event=webhook_event) for webhook_event in webhook_events]


def webhook_events_process_batch(*, webhook_events: Sequence[WebhookEvent]) -> BatchResult:
    """Applies pending rows together (see the module docstring); rows no longer pending are skipped."""
    prepared: list[_Prepared] = []
    unparsable: list[WebhookEvent] = []
    for webhook_event in webhook_events:
        try:
            prepared.append(_prepare(webhook_event))
        # Not hidden: such a row is processed on its own below, which stores the error on it.
        except Exception:
            unparsable.append(webhook_event)
    done: list[_Prepared] = []
    try:
        with sqlite_write_turn(), transaction.atomic():
            # Rows another process holds or already finished (the retry task, an admin action) are skipped.
            claimed = set(
                WebhookEvent.objects.select_for_update(skip_locked=True)
                .filter(_with_ids([item.webhook_event.pk for item in prepared]), state=WebhookProcessingState.PENDING)
                .values_list("pk", flat=True)
            )
            done = [item for item in prepared if item.webhook_event.pk in claimed]
            statuses = [status for item in done for status in _statuses(item.routed)]
            if statuses:
                delivery_statuses_apply(events=statuses)
            for item in done:
                _apply_others(item.routed, item.webhook_event)
            _mark(done)
    except Exception:
        logger.exception("A batch of %d webhooks failed; processing them one by one", len(done))
        states = _one_by_one([item.webhook_event for item in done or prepared] + unparsable)
        return BatchResult(
            processed=states.count(WebhookProcessingState.PROCESSED),
            unrouted=states.count(WebhookProcessingState.UNROUTED),
            failed=states.count(WebhookProcessingState.FAILED),
            one_by_one=len(states),
        )
    states = _one_by_one(unparsable)
    return BatchResult(
        processed=sum(item.state == WebhookProcessingState.PROCESSED for item in done)
        + states.count(WebhookProcessingState.PROCESSED),
        unrouted=sum(item.state == WebhookProcessingState.UNROUTED for item in done)
        + states.count(WebhookProcessingState.UNROUTED),
        failed=states.count(WebhookProcessingState.FAILED),
        one_by_one=len(states),
    )
