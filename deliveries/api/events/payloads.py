"""The JSON of each event kind: `{id, type, created_at, data}`, built from the outbox row and the rows it names.

The status, its time and the error are the outbox row's snapshot (the delivery may have moved on since); the
phone number and message details are read at dispatch time, so an erased contact's number is never sent.
"""

from __future__ import annotations

from typing import Any

from contacts.models import ConsentEvent, Contact
from deliveries.api.models import ApiEvent, ApiEventKind
from deliveries.models import Delivery, InboundMessage

EVENT_TYPES = {
    "opt_in": "contact.opted_in",
    "opt_out": "contact.opted_out",
}


def event_public_id(event: ApiEvent) -> str:
    return f"evt_{event.pk}"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _message_status(event: ApiEvent, deliveries: dict[int, Delivery]) -> tuple[str, dict[str, Any]]:
    delivery = deliveries.get(event.delivery_id)
    data = {
        "message_id": event.delivery_id,
        "status": event.status,
        "occurred_at": _iso(event.occurred_at),
        "to": delivery.recipient if delivery is not None and delivery.contact_id else None,
        "wamid": delivery.wamid if delivery is not None else None,
        "template": {"name": delivery.template_name, "language": delivery.language} if delivery else None,
        "campaign_id": event.campaign_id,
        "error": {"code": event.error_code, "title": event.error_title} if event.status == "failed" else None,
    }
    return f"message.{event.status}", data


def _inbound(event: ApiEvent, inbound: dict[int, InboundMessage]) -> tuple[str, dict[str, Any]]:
    message = inbound.get(event.inbound_message_id)
    data = {
        "inbound_message_id": event.inbound_message_id,
        "type": event.status,
        "occurred_at": _iso(event.occurred_at),
        "from": message.from_phone if message is not None and message.contact_id else None,
        "text": message.text if message is not None else None,
        "in_reply_to_message_id": message.in_reply_to_id if message is not None else None,
        "wamid": message.wamid if message is not None else None,
    }
    return "message.received", data


def _consent(event: ApiEvent, consents: dict[int, ConsentEvent], contacts: dict[int, Contact]) -> tuple[str, dict]:
    consent = consents.get(event.consent_event_id)
    contact = contacts.get(event.contact_id)
    data = {
        "phone": contact.phone if contact is not None else None,
        "scope": event.scope,
        "source": consent.source if consent is not None else None,
        "occurred_at": _iso(event.occurred_at),
    }
    return EVENT_TYPES.get(event.status, f"contact.{event.status}"), data


def event_payloads(events: list[ApiEvent]) -> dict[int, dict[str, Any]]:
    """Event id → the JSON object to POST (a few queries per batch, not per event)."""
    deliveries = Delivery.objects.in_bulk([e.delivery_id for e in events if e.delivery_id])
    inbound = InboundMessage.objects.in_bulk([e.inbound_message_id for e in events if e.inbound_message_id])
    consents = ConsentEvent.objects.in_bulk([e.consent_event_id for e in events if e.consent_event_id])
    contacts = Contact.objects.in_bulk([e.contact_id for e in events if e.kind == ApiEventKind.CONSENT])
    payloads = {}
    for event in events:
        if event.kind == ApiEventKind.MESSAGE_STATUS:
            kind, data = _message_status(event, deliveries)
        elif event.kind == ApiEventKind.MESSAGE_RECEIVED:
            kind, data = _inbound(event, inbound)
        else:
            kind, data = _consent(event, consents, contacts)
        payloads[event.pk] = {
            "id": event_public_id(event),
            "type": kind,
            "created_at": event.created_at.isoformat(),
            "data": data,
        }
    return payloads
