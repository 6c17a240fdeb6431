"""Which of our business accounts (and sender numbers) each webhook event belongs to.

An event is routed by `metadata.phone_number_id` when it has one, else by the entry's WABA id; only accounts
of the Meta app whose secret signed the POST count. Events for accounts this installation does not know are
left out (the WebhookEvent is then stored as `unrouted`).
"""

from __future__ import annotations

from dataclasses import dataclass

from deliveries.webhooks.lookups import phone_routes
from wacampaigns.models import BusinessAccount, PhoneNumber
from wacampaigns.whatsapp.events import WebhookEvent as MetaEvent


@dataclass(frozen=True, slots=True)
class RoutedEvent:
    """A parsed event and the account (and sender number, when the event names one) it belongs to."""

    event: MetaEvent
    business_account: BusinessAccount
    phone_number: PhoneNumber | None


def webhook_events_route(events: list[MetaEvent], *, meta_app_id: int | None) -> list[RoutedEvent]:
    """The routable events, in order; number routes come from a short-lived per-process cache."""
    phone_ids = {pid for event in events if (pid := getattr(event, "phone_number_id", None))}
    phones = phone_routes(phone_ids, meta_app_id=meta_app_id) if phone_ids else {}
    unresolved_wabas = {event.waba_id for event in events if getattr(event, "phone_number_id", None) not in phones}
    accounts = (
        {
            account.waba_id: account
            for account in BusinessAccount.objects.filter(waba_id__in=unresolved_wabas, meta_app_id=meta_app_id)
        }
        if unresolved_wabas
        else {}
    )
    routed = []
    for event in events:
        phone = phones.get(getattr(event, "phone_number_id", None) or "")
        if phone is not None:
            routed.append(RoutedEvent(event, phone.business_account, phone))
        elif event.waba_id in accounts:
            routed.append(RoutedEvent(event, accounts[event.waba_id], None))
    return routed
