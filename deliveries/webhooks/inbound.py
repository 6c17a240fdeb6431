"""Inbound messages: stored once, matched to their contact and to the delivery they answer, consent applied.

Matching the sender: by business-scoped user id, then `wa_id`, then phone (`+` and the wa_id). An unknown
sender becomes a new contact holding what Meta gave (wa_id, phone `+wa_id` when digits, user id, username,
profile name) and **no consent**: their replies stay visible, and an opt-out they send is remembered, so a
later import of the same number cannot message them (imports never override an opt-out).

A reply is credited (`Delivery.replied_at`) to the delivery named by `context.id`; without a context, to the
most recent campaign delivery sent to that contact in the 24 hours before the reply.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django_q.tasks import async_task

from contacts.models import ConsentKind, ConsentSource, Contact
from deliveries.models import Delivery, DeliveryStatus, InboundMessage, WebhookEvent
from deliveries.webhooks.consent import (
    ConsentIntent,
    ConsentScope,
    consent_keyword_intent,
    contact_consent_from_message,
    contact_marketing_preference_apply,
    opt_out_button_matches,
)
from templates_app.models import MessageTemplate
from wacampaigns.models import BusinessAccount, PhoneNumber
from wacampaigns.whatsapp.events import InboundMessageEvent, UserPreferenceEvent

logger = logging.getLogger(__name__)

REPLY_CREDIT_WINDOW = timedelta(hours=24)
_SENT_STATUSES = (
    DeliveryStatus.ACCEPTED,
    DeliveryStatus.HELD,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
)


def _contact_lookup(*, wa_id: str | None, user_id: str | None) -> Contact | None:
    if user_id:
        found = Contact.objects.filter(business_user_id=user_id).first()
        if found:
            return found
    if wa_id:
        return Contact.objects.filter(Q(wa_id=wa_id) | Q(phone=f"+{wa_id}")).order_by("-wa_id").first()
    return None


def contact_for_sender(
    *, wa_id: str | None, user_id: str | None, username: str | None = None, profile_name: str | None = None
) -> Contact | None:
    """The contact who wrote (created when unknown, see the module docstring); None when Meta named nobody."""
    wa_id, user_id = (wa_id or "")[:32] or None, (user_id or "")[:128] or None
    contact = _contact_lookup(wa_id=wa_id, user_id=user_id)
    if contact is not None:
        updates = {}
        if wa_id and contact.wa_id is None and not Contact.objects.filter(wa_id=wa_id).exists():
            updates["wa_id"] = wa_id
        if (
            user_id
            and contact.business_user_id is None
            and not Contact.objects.filter(business_user_id=user_id).exists()
        ):
            updates["business_user_id"] = user_id
        if username and contact.username != username[:64]:
            updates["username"] = username[:64]
        if updates:
            Contact.objects.filter(pk=contact.pk).update(**updates)
            for field, value in updates.items():
                setattr(contact, field, value)
        return contact
    if not wa_id and not user_id:
        return None
    phone = f"+{wa_id}" if wa_id and wa_id.isdigit() and 7 <= len(wa_id) <= 15 else None
    try:
        with transaction.atomic():
            return Contact.objects.create(
                phone=phone,
                wa_id=wa_id,
                business_user_id=user_id,
                username=(username or "")[:64],
                name=(profile_name or "")[:200],
            )
    except IntegrityError:
        # Another webhook created the same person a moment ago.
        return _contact_lookup(wa_id=wa_id, user_id=user_id)


def _replied_delivery(event: InboundMessageEvent, contact: Contact | None) -> Delivery | None:
    if event.context_wamid:
        by_context = Delivery.objects.filter(wamid=event.context_wamid).first()
        if by_context is not None:
            return by_context
    if contact is None:
        return None
    return (
        Delivery.objects.filter(
            contact=contact,
            campaign__isnull=False,
            status__in=_SENT_STATUSES,
            created_at__lte=event.timestamp,
        )
        .annotate(sent_time=Coalesce("sent_at", "accepted_at", "attempted_at"))
        .filter(sent_time__gte=event.timestamp - REPLY_CREDIT_WINDOW, sent_time__lte=event.timestamp)
        .order_by("-sent_time", "-id")
        .first()
    )


def _consent_intent(
    event: InboundMessageEvent, delivery: Delivery | None, business_account: BusinessAccount
) -> tuple[ConsentIntent, ConsentSource] | None:
    if event.type == "button":
        tapped = event.button_text or event.button_payload
        templates = (
            [delivery.template]
            if delivery is not None and delivery.template is not None
            else MessageTemplate.objects.filter(business_account=business_account).exclude(opt_out_button_texts=[])
        )
        if any(opt_out_button_matches(tapped, template.opt_out_button_texts) for template in templates):
            return ConsentIntent(ConsentKind.OPT_OUT, ConsentScope.MARKETING), ConsentSource.OPT_OUT_BUTTON
    text = event.text if event.type == "text" else event.button_text or event.interactive_reply_title
    intent = consent_keyword_intent(text)
    return (intent, ConsentSource.KEYWORD) if intent else None


def inbound_message_receive(
    *,
    event: InboundMessageEvent,
    business_account: BusinessAccount,
    phone_number: PhoneNumber | None,
    webhook_event: WebhookEvent | None,
) -> InboundMessage | None:
    """Stores one inbound message and applies what it means; None when it was already stored (a retry)."""
    if InboundMessage.objects.filter(wamid=event.wamid).exists():
        return None
    contact = contact_for_sender(
        wa_id=event.from_phone, user_id=event.from_user_id, username=event.username, profile_name=event.profile_name
    )
    delivery = _replied_delivery(event, contact)
    readable = event.text or event.button_text or event.button_payload or event.interactive_reply_title or ""
    try:
        with transaction.atomic():
            message = InboundMessage.objects.create(
                wamid=event.wamid[:128],
                business_account=business_account,
                phone_number=phone_number,
                contact=contact,
                from_phone=(event.from_phone or "")[:32],
                from_user_id=(event.from_user_id or "")[:128],
                profile_name=(event.profile_name or "")[:200],
                message_type=event.type[:32],
                text=readable,
                payload=event.raw,
                context_wamid=(event.context_wamid or "")[:128],
                in_reply_to=delivery,
                sent_at=event.timestamp,
                webhook_event=webhook_event,
            )
    except IntegrityError:
        return None  # the same message, stored by a concurrent retry of this webhook
    if delivery is not None:
        Delivery.objects.filter(pk=delivery.pk).filter(
            Q(replied_at__isnull=True) | Q(replied_at__gt=event.timestamp)
        ).update(replied_at=event.timestamp)
    if contact is not None:
        wanted = _consent_intent(event, delivery, business_account)
        if wanted is not None:
            intent, source = wanted
            contact_consent_from_message(
                contact=contact,
                intent=intent,
                source=source,
                occurred_at=event.timestamp,
                evidence=f"{event.type} message {event.wamid}: {readable}",
            )
            if settings.CONSENT_CONFIRMATION_REPLIES and phone_number is not None and event.from_phone:
                transaction.on_commit(
                    lambda: async_task(
                        "deliveries.webhooks.tasks.consent_confirmation_send", message.pk, str(intent.kind)
                    )
                )
    return message


def user_preference_receive(*, event: UserPreferenceEvent, fallback_time) -> bool:
    """Applies Meta's marketing stop/resume to the contact it names; False when nothing was recorded."""
    contact = contact_for_sender(wa_id=event.wa_id, user_id=event.user_id)
    if contact is None:
        logger.warning("user_preferences event without wa_id or user id ignored: %r", event.raw)
        return False
    recorded = contact_marketing_preference_apply(
        contact=contact,
        preference=event.preference,
        occurred_at=event.timestamp or fallback_time,
        evidence=f"Meta user_preferences {event.raw_value} ({event.category}): {event.detail or ''}",
    )
    return recorded is not None
