"""GDPR for the data deliveries hold: outbound messages, raw webhook events and inbound messages.

This is the top of the dependency graph, where every place holding a contact's personal data is visible,
so the complete export and erase are offered here. The pieces held by this app register themselves as
`contacts.personal_data.PersonalDataHolder`s when this module is imported; `ContactsConfig.ready()`
imports every app's `personal_data` module, so the contacts admin's GDPR actions (which cannot import
deliveries) run the same complete export and erase as the two functions below.
"""

from django.db.models import Q

from contacts import personal_data
from contacts.models import Contact
from contacts.personal_data import PersonalDataHolder, identifiers_filter, personal_data_holder_register, text_redact
from deliveries.models import Delivery, InboundMessage, WebhookEvent


def _deliveries(contact: Contact):
    return Delivery.objects.filter(Q(contact=contact) | identifiers_filter(contact, "recipient"))


def _deliveries_export(contact: Contact) -> list[dict]:
    return list(
        _deliveries(contact)
        .order_by("id")
        .values(
            "id",
            "campaign_id",
            "template_name",
            "language",
            "recipient",
            "parameters",
            "status",
            "wamid",
            "created_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "error_code",
            "error_title",
            "error_details",
            "skip_reason",
            "skip_details",
        )
    )


def _deliveries_erase(contact: Contact) -> int:
    # The rows stay (campaign counts, statuses, costs); only what identifies or was sent to the person goes.
    return _deliveries(contact).update(contact=None, recipient="", parameters=None, error_details="", skip_details="")


def _webhook_events(contact: Contact) -> list[WebhookEvent]:
    candidates = WebhookEvent.objects.filter(identifiers_filter(contact, "raw_body")).only("id", "raw_body")
    return [event for event in candidates if text_redact(event.raw_body, contact) != event.raw_body]


def _webhook_events_export(contact: Contact) -> list[dict]:
    return [
        {"id": event.pk, "received_at": event.received_at, "state": event.state, "raw_body": event.raw_body}
        for event in WebhookEvent.objects.filter(pk__in=[event.pk for event in _webhook_events(contact)])
    ]


def _webhook_events_erase(contact: Contact) -> int:
    events = _webhook_events(contact)
    # The WhatsApp profile name Meta sent can differ from the contact's name.
    profile_names = tuple(
        set(_inbound_messages(contact).exclude(profile_name="").values_list("profile_name", flat=True))
    )
    for event in events:
        redacted = text_redact(event.raw_body, contact, names=profile_names)
        WebhookEvent.objects.filter(pk=event.pk).update(raw_body=redacted)
    return len(events)


def _inbound_messages(contact: Contact):
    naming = Q(contact=contact) | Q(from_phone__in=[value for value in (contact.wa_id, contact.phone) if value])
    if contact.phone:
        naming |= Q(from_phone=contact.phone.lstrip("+"))
    if contact.business_user_id:
        naming |= Q(from_user_id=contact.business_user_id)
    return InboundMessage.objects.filter(naming)


def _inbound_messages_export(contact: Contact) -> list[dict]:
    return list(
        _inbound_messages(contact)
        .order_by("sent_at", "id")
        .values(
            "id",
            "wamid",
            "from_phone",
            "from_user_id",
            "profile_name",
            "message_type",
            "text",
            "payload",
            "context_wamid",
            "in_reply_to_id",
            "sent_at",
            "received_at",
            "webhook_event_id",
        )
    )


def _inbound_messages_erase(contact: Contact) -> int:
    return _inbound_messages(contact).delete()[0]


# Webhook events first: their redaction reads the profile names of the inbound messages erased next.
personal_data_holder_register(PersonalDataHolder("deliveries", _deliveries_export, _deliveries_erase))
personal_data_holder_register(PersonalDataHolder("webhook_events", _webhook_events_export, _webhook_events_erase))
personal_data_holder_register(PersonalDataHolder("inbound_messages", _inbound_messages_export, _inbound_messages_erase))


def contact_personal_data_export(*, contact: Contact) -> dict:
    """One JSON document: profile, consent history, import rows, deliveries with their parameters,
    inbound messages and the raw webhook events naming the contact."""
    return personal_data.contact_personal_data_export(contact=contact)


def contact_erase(*, contact: Contact, erased_by=None) -> dict[str, int]:
    """Erases the contact everywhere; its numbers go on the suppression list as keyed hashes."""
    return personal_data.contact_erase(contact=contact, erased_by=erased_by)
