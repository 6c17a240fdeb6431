"""GDPR: the export holds every related record; erase leaves no personal data and suppresses the number."""

import io
import json

import pytest
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from contacts.importing.services import contact_import_create
from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact, ContactImport, ContactImportStatus
from contacts.services import contact_consent_record, contact_create
from contacts.suppression import phone_is_suppressed
from deliveries.models import Delivery, InboundMessage, WebhookEvent
from deliveries.personal_data import contact_erase, contact_personal_data_export
from wacampaigns.models import BusinessAccount, Campaign, MetaApp, PhoneNumber

pytestmark = pytest.mark.django_db

PHONE = "+5511987654321"
WA_ID = "5511987654321"


def _webhook(wa_id, profile_name, text):
    return json.dumps(
        {
            "entry": [
                {
                    "changes": [
                        {
                            "value": {
                                "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
                                "messages": [
                                    {"from": wa_id, "id": f"wamid.{text}", "type": "text", "text": {"body": text}}
                                ],
                            }
                        }
                    ]
                }
            ]
        }
    )


@pytest.fixture
def world():
    app = MetaApp.objects.create(name="app", app_id="1")
    account = BusinessAccount.objects.create(meta_app=app, name="acct", waba_id="2")
    sender = PhoneNumber.objects.create(business_account=account, phone_number_id="3", display_phone_number="+1 555")
    campaign = Campaign.objects.create(name="promo", sender=sender, template_name="promo")
    contact = contact_create(phone=PHONE, name="Maria Silva", attributes={"city": "São Paulo"})
    Contact.objects.filter(pk=contact.pk).update(wa_id=WA_ID)
    contact.refresh_from_db()
    contact_consent_record(
        contact=contact,
        kind=ConsentKind.OPT_IN,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.WEB_FORM,
        evidence="signed up",
    )
    other = contact_create(phone="+5511912345678", name="Other Person")
    now = timezone.now()
    parameters = [{"type": "body", "parameters": [{"type": "text", "text": "Maria Silva"}]}]
    Delivery.objects.create(
        campaign=campaign,
        contact=contact,
        sender=sender,
        recipient=WA_ID,
        parameters=parameters,
        status="delivered",
        not_before=now,
        wamid="wamid.out1",
    )
    Delivery.objects.create(
        campaign=campaign,
        contact=other,
        sender=sender,
        recipient="5511912345678",
        parameters=[],
        status="delivered",
        not_before=now,
        wamid="wamid.out2",
    )
    event = WebhookEvent.objects.create(raw_body=_webhook(WA_ID, "Mari", "hello"), signature_valid=True)
    other_event = WebhookEvent.objects.create(raw_body=_webhook("5511912345678", "Other", "hi"), signature_valid=True)
    InboundMessage.objects.create(
        wamid="wamid.in1",
        contact=contact,
        from_phone=WA_ID,
        profile_name="Mari",
        message_type="text",
        text="hello",
        payload={"from": WA_ID},
        sent_at=now,
        webhook_event=event,
    )
    pending = contact_import_create(file=io.BytesIO(f"phone\n{PHONE}\n".encode()), original_name="pending.csv")
    OrmQ.objects.create(
        key="wacampaigns",
        lock=now,
        payload=SignedPackage.dumps({"id": "x", "name": "n", "func": "some.task", "args": (PHONE,), "kwargs": {}}),
    )
    return {
        "contact": contact,
        "other": other,
        "event": event,
        "other_event": other_event,
        "pending": pending,
        "campaign": campaign,
    }


def test_export_holds_every_related_record(world):
    document = contact_personal_data_export(contact=world["contact"])

    assert document["profile"]["phone"] == PHONE
    assert document["profile"]["attributes"] == {"city": "São Paulo"}
    assert [event["evidence"] for event in document["consent_history"]] == ["signed up"]
    assert [d["wamid"] for d in document["deliveries"]] == ["wamid.out1"]
    assert document["deliveries"][0]["parameters"][0]["parameters"][0]["text"] == "Maria Silva"
    assert [m["wamid"] for m in document["inbound_messages"]] == ["wamid.in1"]
    assert [e["id"] for e in document["webhook_events"]] == [world["event"].pk]
    assert json.loads(json.dumps(document)) == document


def test_erase_leaves_no_personal_data_and_suppresses_the_number(world, stage):
    counts = contact_erase(contact=world["contact"])

    assert not Contact.objects.filter(phone=PHONE).exists()
    delivery = Delivery.objects.get(wamid="wamid.out1")
    assert (delivery.contact_id, delivery.recipient, delivery.parameters) == (None, "", None)
    assert Delivery.objects.filter(campaign=world["campaign"]).count() == 2  # campaign counts stay right
    assert not InboundMessage.objects.filter(wamid="wamid.in1").exists()
    body = WebhookEvent.objects.get(pk=world["event"].pk).raw_body
    assert WA_ID not in body
    assert "Mari" not in body
    assert WebhookEvent.objects.get(pk=world["other_event"].pk).raw_body == world["other_event"].raw_body
    pending = ContactImport.objects.get(pk=world["pending"].pk)
    assert (pending.file.name, pending.status) == ("", ContactImportStatus.FAILED)
    assert OrmQ.objects.count() == 0
    assert counts["background_tasks"] == 1
    assert phone_is_suppressed(PHONE)
    assert Contact.objects.filter(phone="+5511912345678").exists()
    every_text = json.dumps(
        [
            list(Delivery.objects.values()),
            list(WebhookEvent.objects.values("raw_body")),
            list(InboundMessage.objects.values()),
        ],
        default=str,
    )
    assert WA_ID not in every_text
    assert "Maria Silva" not in every_text

    reimport = stage(f"phone\n{PHONE}\n".encode())
    assert reimport.rows_valid == 0
    assert "suppression list" in reimport.rows.get().error
