"""Processing one stored webhook: parse, route, apply every event in one transaction, record the outcome.

A failure rolls the events back, and the raw row keeps the error and its attempt count for the periodic
retry (`deliveries.webhooks.reprocessing`). Only a failure to write that outcome (the database itself)
propagates.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import F
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


def _apply(routed: Sequence[RoutedEvent], webhook_event: WebhookEvent) -> None:
    statuses = [r.event for r in routed if isinstance(r.event, MessageStatusEvent)]
    if statuses:
        delivery_statuses_apply(events=statuses)
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


def _outcome(webhook_event: WebhookEvent, **fields: Any) -> None:
    WebhookEvent.objects.filter(pk=webhook_event.pk).update(attempts=F("attempts") + 1, **fields)
    webhook_event.attempts += 1
    for name, value in fields.items():
        setattr(webhook_event, name, value)


def webhook_event_process(*, webhook_event: WebhookEvent, payload: Any = None) -> WebhookProcessingState:
    """Applies a stored webhook (its decoded `payload` may be passed to save parsing it again)."""
    try:
        with transaction.atomic():
            events = parse_webhook(json.loads(webhook_event.raw_body) if payload is None else payload)
            routed = webhook_events_route(events, meta_app_id=webhook_event.meta_app_id)
            if events and not routed:
                state = WebhookProcessingState.UNROUTED
                business_account = None
                logger.warning("Webhook %s names no account of this installation: unrouted", webhook_event.pk)
            else:
                state = WebhookProcessingState.PROCESSED
                business_account = routed[0].business_account if routed else None
                if len(routed) < len(events):
                    logger.warning(
                        "Webhook %s: %d events for unknown accounts", webhook_event.pk, len(events) - len(routed)
                    )
                _apply(routed, webhook_event)
            _outcome(
                webhook_event,
                state=state,
                processed_at=timezone.now() if state == WebhookProcessingState.PROCESSED else None,
                processing_error="",
                business_account=business_account,
            )
    # Not hidden: the error is stored on the raw row, logged, and the row is retried.
    except Exception as err:
        logger.exception("Webhook %s failed to process; kept for retry", webhook_event.pk)
        _outcome(
            webhook_event,
            state=WebhookProcessingState.FAILED,
            processing_error="".join(traceback.format_exception_only(err)).strip()[:4000],
        )
    return webhook_event.state
