"""PUT/GET /api/v1/contacts/{phone} and POST …/opt-out: upsert, tags, consent events, refusals."""

from django.db import transaction

from contacts.models import ConsentEvent, ConsentSource, Contact, ErasedNumber, MarketingConsent
from contacts.suppression import phone_number_hash
from deliveries.api import contacts as api_contacts
from deliveries.api.contacts import contact_upsert_from_api

PHONE = "+34612345678"


def test_put_creates_then_updates_with_tags_attributes_and_consent(api):
    created = api.put_json(
        f"/api/v1/contacts/{PHONE}",
        {
            "name": "Ana",
            "language": "es",
            "attributes": {"city": "Madrid"},
            "tags": ["vip", "Shop"],
            "consent": {"kind": "opt_in", "scope": "marketing", "evidence": "Checkout checkbox"},
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["tags"] == ["Shop", "vip"]
    assert body["consent"]["marketing"] == "opted_in"
    assert body["consent"]["can_receive_marketing"] is True

    updated = api.put_json("/api/v1/contacts/34612345678", {"attributes": {"plan": "pro"}, "tags": ["vip"]})

    assert updated.status_code == 200
    contact = Contact.objects.get(phone=PHONE)
    assert (contact.name, contact.language, contact.attributes) == ("Ana", "es", {"plan": "pro"})
    assert sorted(contact.tags.values_list("name", flat=True)) == ["vip"]
    event = ConsentEvent.objects.get(contact=contact)
    assert (event.kind, event.scope, event.source, event.evidence) == (
        "opt_in",
        "marketing",
        "api",
        "Checkout checkbox",
    )


def test_opt_out_records_an_event_and_creates_unknown_contacts(api):
    response = api.post_json(f"/api/v1/contacts/{PHONE}/opt-out", {"scope": "all"})

    assert response.status_code == 200, response.content
    assert response.json()["consent"]["opted_out_of_all"] is True
    contact = Contact.objects.get(phone=PHONE)
    assert contact.marketing_consent == MarketingConsent.OPTED_OUT
    assert contact.opted_out_of_all_at is not None
    assert contact.opted_out_of_all_source == ConsentSource.API


def test_opt_out_without_a_body_is_a_marketing_opt_out(api):
    response = api.post(f"/api/v1/contacts/{PHONE}/opt-out", content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["consent"]["marketing"] == "opted_out"
    assert response.json()["consent"]["opted_out_of_all"] is False


def test_opt_in_after_opt_out_needs_evidence_and_changes_nothing_without(api):
    api.post_json(f"/api/v1/contacts/{PHONE}/opt-out", {"scope": "marketing"})

    refused = api.put_json(f"/api/v1/contacts/{PHONE}", {"name": "Changed", "consent": {"kind": "opt_in"}})

    assert refused.status_code == 422
    assert refused.json()["code"] == "consent_refused"
    contact = Contact.objects.get(phone=PHONE)
    assert (contact.name, contact.marketing_consent) == ("", MarketingConsent.OPTED_OUT)
    accepted = api.put_json(
        f"/api/v1/contacts/{PHONE}", {"consent": {"kind": "opt_in", "evidence": "Re-subscribed in account settings"}}
    )
    assert accepted.json()["consent"]["marketing"] == "opted_in"


def test_get_contact_and_errors(api):
    assert api.get(f"/api/v1/contacts/{PHONE}").json()["code"] == "contact_not_found"
    api.put_json(f"/api/v1/contacts/{PHONE}", {"name": "Ana"})
    assert api.get(f"/api/v1/contacts/{PHONE}").json()["name"] == "Ana"
    assert api.get("/api/v1/contacts/1234567").json()["code"] == "invalid_phone_number"
    assert api.get("/api/v1/contacts/12ab").json()["code"] == "invalid_request"
    nul = api.put_json(f"/api/v1/contacts/{PHONE}", {"name": "A\x00B"})
    assert (nul.status_code, nul.json()["code"]) == (422, "invalid_request")
    bad_tag = api.put_json(f"/api/v1/contacts/{PHONE}", {"tags": [""]})
    assert (bad_tag.status_code, bad_tag.json()["code"]) == (422, "invalid_request")
    naive_time = api.put_json(
        f"/api/v1/contacts/{PHONE}", {"consent": {"kind": "opt_out", "occurred_at": "2024-01-01T10:00:00"}}
    )
    assert naive_time.json()["code"] == "invalid_request"
    assert not ConsentEvent.objects.exists()


def test_suppressed_number_is_never_stored(api):
    ErasedNumber.objects.create(number_hash=phone_number_hash(PHONE))

    response = api.put_json(f"/api/v1/contacts/{PHONE}", {"name": "Ana"})

    assert (response.status_code, response.json()["code"]) == (422, "phone_number_suppressed")
    assert not Contact.objects.exists()


def test_upsert_creates_with_the_model_defaults_and_reads_a_number_another_request_just_created(db, monkeypatch):
    with transaction.atomic():
        created, was_created = contact_upsert_from_api(phone=PHONE, name="Ana")
    contact = Contact.objects.get(phone=PHONE)
    assert was_created
    assert created.pk == contact.pk
    assert (contact.name, contact.attributes, contact.marketing_consent) == ("Ana", {}, MarketingConsent.UNKNOWN)
    assert contact.created_at is not None

    # Another request inserted the number between this one's lookup and its insert: the insert yields to it.
    locked = api_contacts._contact_locked
    lookups = []
    monkeypatch.setattr(
        api_contacts,
        "_contact_locked",
        lambda phone: lookups.append(phone) or (locked(phone) if len(lookups) > 1 else None),
    )
    with transaction.atomic():
        again, was_created = contact_upsert_from_api(phone=PHONE, language="es")
    assert not was_created
    assert again.pk == contact.pk
    assert Contact.objects.filter(phone=PHONE).count() == 1
    assert Contact.objects.get(phone=PHONE).language == "es"
