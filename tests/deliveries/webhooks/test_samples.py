"""Every webhook sample (reference and v24+ fixtures) posted signed; the database checked field by field."""

from datetime import UTC, datetime

import pytest

from contacts.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource, Contact, MarketingConsent
from deliveries.models import DeliveryStatus, ErrorClass, InboundMessage, WebhookEvent
from deliveries.models import WebhookProcessingState as State
from templates_app.models import QualityRating, TemplateCategory, TemplateStatus
from tests import factories
from tests.deliveries.webhooks.conftest import WEBHOOK_SAMPLES, sample
from wacampaigns.models import BusinessAccount, CampaignStatus, SendingState
from wacampaigns.models.accounts import MessagingLimitTier

pytestmark = pytest.mark.django_db


def ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


@pytest.fixture
def accounts(meta_app):
    """The accounts and numbers the samples name, all belonging to the signing app."""
    made = {}
    for waba_id, phone_number_id in [
        ("5467539754836534", "1122334455667"),
        ("419561257915477", "106540352242922"),
        ("880480571844883", "409552778964973"),
        ("111111111111111", "109999999999999"),
        ("102290129340398", None),
        ("57438975935", None),
        ("202290129340399", "206540352242922"),
    ]:
        account = factories.business_account(meta_app=meta_app, waba_id=waba_id)
        made[waba_id] = account
        if phone_number_id:
            made[phone_number_id] = factories.phone_number(
                business_account=account, phone_number_id=phone_number_id, display_phone_number="+1 555 078 3881"
            )
    return made


def test_the_sample_set_is_complete():
    assert len(WEBHOOK_SAMPLES) == 20  # the 18 webhook samples of the reference and 2 v24+ fixtures


@pytest.mark.parametrize("name", WEBHOOK_SAMPLES)
def test_every_sample_is_answered_200_and_processed_or_unrouted(post_webhook, accounts, name):
    response = post_webhook(sample(name))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    expected = State.UNROUTED if name == "webhook_phone_number_quality_update_flagged.json" else State.PROCESSED
    assert (event.state, event.processing_error, event.attempts, event.signature_valid) == (expected, "", 1, True)


def test_status_sent_with_pricing(post_webhook, accounts):
    delivery = factories.delivery(sender=accounts["1122334455667"], wamid="wamid.xyzxyz", status="accepted")
    post_webhook(sample("webhook_status_sent_cbp_service_pricing.json"))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.sent_at, delivery.pricing_category) == ("sent", ts(1698266945), "service")
    assert (delivery.delivered_at, delivery.read_at, delivery.failed_at, delivery.error_code) == (
        None,
        None,
        None,
        None,
    )
    delivery.contact.refresh_from_db()
    assert (delivery.contact.wa_id, delivery.contact.business_user_id) == ("972987654321", "US.13491208655302741918")


def test_status_sent_with_callback_data_that_is_not_a_delivery_id(post_webhook, accounts):
    delivery = factories.delivery(sender=accounts["1122334455667"], wamid="wamid.xyzxyz", status="accepted")
    post_webhook(sample("webhook_status_sent_with_biz_opaque_callback_data.json"))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.sent_at) == ("sent", ts(1698266945))


def test_status_delivered_cbp(post_webhook, accounts):
    wamid = "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA=="
    delivery = factories.delivery(sender=accounts["409552778964973"], wamid=wamid, status="accepted")
    post_webhook(sample("webhook_status_delivered_cbp_business_initiated.json"))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.delivered_at, delivery.sent_at) == ("delivered", ts(1673020317), None)
    assert delivery.pricing_category == "business_initiated"


@pytest.mark.parametrize(
    ("name", "phone_key", "wamid", "code", "error_class", "title", "details", "timestamp"),
    [
        (
            "webhook_status_failed_130472_experiment.json", "1122334455667", "wamid.xyzxyz", 130472,
            ErrorClass.RECIPIENT, "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment", 1689380458,
        ),
        (
            "webhook_status_failed_131047_reengagement.json", "109999999999999",
            "wamid.HBgNN5NzAzMDkTUyNzkzNhUEjA1MjUwNCAUIyNEYUQ0OTVGNTY0MwA=", 131047, ErrorClass.RECIPIENT,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this "
            "number.", 1682651887,
        ),
        (
            "webhook_status_failed_131053_media_upload_error.json", "409552778964973",
            "wamid.HBgNNTUyNzk5NzAUZBQTI3MzRGRDA3MjgzMDkzNhUCABEYEjNCR2OQA=", 131053, ErrorClass.RECIPIENT,
            "Media upload error", "Unsupported Video mime type text/html. Please use one of video/3gpp, video/mp4.",
            1677783372,
        ),
    ],
)  # fmt: skip
def test_failed_statuses(post_webhook, accounts, name, phone_key, wamid, code, error_class, title, details, timestamp):
    delivery = factories.delivery(sender=accounts[phone_key], wamid=wamid, status="accepted")
    post_webhook(sample(name))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.failed_at, delivery.error_code, delivery.error_class) == (
        "failed", ts(timestamp), code, error_class,
    )  # fmt: skip
    assert (delivery.error_title, delivery.error_details) == (title, details)
    assert delivery.contact.consent_events.count() == 0


def test_inbound_text_reply_with_context_credits_the_delivery(post_webhook, accounts):
    contact = factories.contact(phone="+972987654321")
    delivery = factories.delivery(sender=accounts["1122334455667"], contact=contact, wamid="wamid.xyzxyz==")
    post_webhook(sample("webhook_inbound_text_reply_with_context.json"))
    message = InboundMessage.objects.get()
    assert (message.wamid, message.contact, message.in_reply_to, message.context_wamid) == (
        "wamid.xyzxyz", contact, delivery, "wamid.xyzxyz==",
    )  # fmt: skip
    assert (message.message_type, message.text, message.sent_at) == ("text", "replied text", ts(1697044746))
    assert (message.from_phone, message.from_user_id, message.profile_name) == (
        "972987654321", "US.13491208655302741918", "Test Name",
    )  # fmt: skip
    assert (message.phone_number, message.business_account) == (
        accounts["1122334455667"], accounts["1122334455667"].business_account,
    )  # fmt: skip
    delivery.refresh_from_db()
    contact.refresh_from_db()
    assert delivery.replied_at == ts(1697044746)
    assert (contact.wa_id, contact.business_user_id, contact.marketing_consent) == (
        "972987654321", "US.13491208655302741918", MarketingConsent.UNKNOWN,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "wamid", "text"),
    [
        ("webhook_inbound_interactive_button_reply.json", "wamid.xyzxyz", "title"),
        ("webhook_inbound_interactive_list_reply.json", "wamid.zyzxyz", "title"),
    ],
)
def test_inbound_interactive_replies_from_an_unknown_sender_create_a_contact(post_webhook, accounts, name, wamid, text):
    post_webhook(sample(name))
    message = InboundMessage.objects.get()
    contact = Contact.objects.get()
    assert (message.wamid, message.message_type, message.text, message.contact) == (wamid, "interactive", text, contact)
    assert (contact.phone, contact.wa_id, contact.business_user_id, contact.name) == (
        "+972987654321", "972987654321", "US.13491208655302741918", "Test Name",
    )  # fmt: skip
    assert (contact.marketing_consent, contact.consent_events.count()) == (MarketingConsent.UNKNOWN, 0)


def test_inbound_quick_reply_unsubscribe_button_opts_out(post_webhook, accounts):
    account = accounts["106540352242922"].business_account
    template = factories.template(business_account=account, opt_out_button_texts=["Unsubscribe"])
    contact = factories.contact(phone="+16505551234")
    delivery = factories.delivery(
        sender=accounts["106540352242922"],
        contact=contact,
        template=template,
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
    )
    post_webhook(sample("webhook_inbound_quick_reply_unsubscribe_official.json"))
    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.marketing_consent_source, contact.marketing_consent_at) == (
        MarketingConsent.OPTED_OUT, ConsentSource.OPT_OUT_BUTTON, ts(1750091045),
    )  # fmt: skip
    event = ConsentEvent.objects.get(contact=contact)
    assert (event.kind, event.scope, event.source) == (ConsentKind.OPT_OUT, ConsentScope.MARKETING, "opt_out_button")
    message = InboundMessage.objects.get()
    assert (message.message_type, message.text, message.in_reply_to) == ("button", "Unsubscribe", delivery)


def test_inbound_unsupported_is_stored(post_webhook, accounts):
    post_webhook(sample("webhook_inbound_unsupported_131051_official.json"))
    message = InboundMessage.objects.get()
    assert (message.message_type, message.text, message.contact.wa_id) == ("unsupported", "", "16505551234")
    assert message.payload["errors"][0]["code"] == 131051


def test_template_status_approved_and_rejected(post_webhook, accounts):
    account = accounts["102290129340398"]
    approved = factories.template(
        business_account=account, name="order_confirmation", language="en_US", status="PENDING", category="MARKETING"
    )
    rejected = factories.template(business_account=account, name="abandoned_cart", language="en", status="PENDING")
    post_webhook(sample("webhook_template_status_update_approved.json"))
    post_webhook(sample("webhook_template_status_update_rejected_invalid_format.json"))
    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert (approved.status, approved.category, approved.meta_template_id, approved.rejection_reason) == (
        TemplateStatus.APPROVED, TemplateCategory.UTILITY, "1689556908129832", "",
    )  # fmt: skip
    assert (rejected.status, rejected.meta_template_id) == (TemplateStatus.REJECTED, "1689556908129835")
    assert rejected.rejection_reason.startswith("INVALID_FORMAT — Your template has parameters placed next")


def test_template_quality_and_category_updates(post_webhook, accounts):
    welcome = factories.template(
        business_account=accounts["102290129340398"], name="welcome_template", meta_template_id="806312974732579"
    )
    mine = factories.template(
        business_account=accounts["57438975935"], name="my_message_template", language="he", category="UTILITY"
    )
    post_webhook(sample("webhook_template_quality_update_green_to_yellow.json"))
    post_webhook(sample("webhook_template_category_update_marketing.json"))
    welcome.refresh_from_db()
    mine.refresh_from_db()
    assert welcome.quality_score == QualityRating.YELLOW
    assert (mine.category, mine.meta_template_id) == (TemplateCategory.MARKETING, "12345678")


def test_account_restriction_stops_sending(
    post_webhook, accounts, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("ops", "ops@example.com")]
    account = accounts["102290129340398"]
    sender = factories.phone_number(business_account=account)
    running = factories.campaign(sender=sender, status=CampaignStatus.RUNNING, launched_at=ts(1_700_000_000))
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook(sample("webhook_account_update_restriction.json"))
    account = BusinessAccount.objects.get(pk=account.pk)
    running.refresh_from_db()
    assert account.sending_state == SendingState.STOPPED
    assert account.stop_reason == (
        "Meta account_update ACCOUNT_RESTRICTION; restrictions: RESTRICTED_BIZ_INITIATED_MESSAGING, "
        "RESTRICTED_ADD_PHONE_NUMBER_ACTION"
    )
    assert running.status == CampaignStatus.PAUSED
    assert [mail.subject for mail in mailoutbox] == [f"[Django] WhatsApp sending stopped on {account.name}"]


def test_user_preferences_resume_undoes_only_a_meta_stop(post_webhook, accounts):
    from contacts.services import contact_consent_record

    meta_stopped = factories.contact(phone="+16505551234")
    for kind, source, when in [("opt_in", "import", 1_700_000_000), ("opt_out", "meta_preference", 1_731_000_000)]:
        contact_consent_record(contact=meta_stopped, kind=kind, scope="marketing", source=source, occurred_at=ts(when))
    post_webhook(sample("webhook_user_preferences_resume_marketing.json"))
    meta_stopped.refresh_from_db()
    assert (meta_stopped.marketing_consent, meta_stopped.marketing_consent_source) == (
        MarketingConsent.OPTED_IN, ConsentSource.META_PREFERENCE,
    )  # fmt: skip
    assert meta_stopped.marketing_consent_at == ts(1731705721)


def test_v24_status_batch_with_user_ids_usernames_and_no_conversation(post_webhook, accounts):
    phone = accounts["106540352242922"]
    sent = factories.delivery(
        sender=phone,
        status=DeliveryStatus.SENDING,
        claim_token="7f9c1c1e-0000-4000-8000-000000000001",
        claimed_at=ts(1767225590),
    )
    read = factories.delivery(sender=phone, wamid="wamid.v24-read", status="accepted")
    stopped_contact = factories.contact(marketing_consent="unknown")
    failed = factories.delivery(sender=phone, contact=stopped_contact, status=DeliveryStatus.AMBIGUOUS)
    other = factories.delivery(sender=accounts["206540352242922"], wamid="wamid.other-waba", status="accepted")
    payload = sample("v24_status_batch_bsuid_username.json")
    statuses = payload["entry"][0]["changes"][0]["value"]["statuses"]
    statuses[0]["biz_opaque_callback_data"] = str(sent.pk)
    statuses[2]["biz_opaque_callback_data"] = str(failed.pk)
    assert post_webhook(payload).status_code == 200

    sent.refresh_from_db()
    read.refresh_from_db()
    failed.refresh_from_db()
    other.refresh_from_db()
    assert (sent.status, sent.wamid, sent.sent_at, sent.pricing_category) == (
        "sent", "wamid.v24-sent", ts(1767225600), "marketing",
    )  # fmt: skip
    assert (read.status, read.read_at, read.delivered_at, read.pricing_category) == (
        "read", ts(1767225660), ts(1767225660), "utility",
    )  # fmt: skip
    assert (failed.status, failed.wamid, failed.error_code, failed.failed_at) == (
        "failed", "wamid.v24-failed", 131050, ts(1767225720),
    )  # fmt: skip
    assert (other.status, other.delivered_at) == ("delivered", ts(1767225780))
    sent.contact.refresh_from_db()
    assert sent.contact.business_user_id == "US.13491208655302741918"
    stopped_contact.refresh_from_db()
    assert (stopped_contact.marketing_consent, stopped_contact.marketing_consent_source) == (
        MarketingConsent.OPTED_OUT, ConsentSource.META_PREFERENCE,
    )  # fmt: skip
    inbound = InboundMessage.objects.get()
    ben = inbound.contact
    assert (ben.business_user_id, ben.username, ben.name, ben.phone, ben.wa_id) == ("DE.555", "ben", "Ben", None, None)
    assert (ben.marketing_consent, ben.marketing_consent_source) == (MarketingConsent.OPTED_OUT, ConsentSource.KEYWORD)
    for phone_number in (phone, accounts["206540352242922"]):
        phone_number.refresh_from_db()
        assert phone_number.last_status_webhook_at is not None


def test_v24_user_preferences_stop_and_template_paused(post_webhook, accounts, mailoutbox):
    account = accounts["102290129340398"]
    sender = factories.phone_number(business_account=account)
    template = factories.template(business_account=account, name="spring_sale", language="en_US")
    launched = ts(1_700_000_000)
    running = factories.campaign(
        sender=sender, template_name="spring_sale", fallback_language="en_US", status="running", launched_at=launched
    )
    other = factories.campaign(
        sender=sender, template_name="spring_sale", fallback_language="es", status="running", launched_at=launched
    )
    contact = factories.contact(phone="+16505551234")
    post_webhook(sample("v24_user_preferences_stop_and_template_paused.json"))

    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.marketing_consent_source, contact.marketing_consent_at) == (
        MarketingConsent.OPTED_OUT, ConsentSource.META_PREFERENCE, ts(1767225600),
    )  # fmt: skip
    assert (contact.wa_id, contact.business_user_id) == ("16505551234", "US.1349")
    template.refresh_from_db()
    assert template.status == TemplateStatus.PAUSED
    running.refresh_from_db()
    other.refresh_from_db()
    assert (running.status, other.status) == (CampaignStatus.PAUSED, CampaignStatus.RUNNING)
    assert running.pause_reason == (
        "Meta paused template spring_sale [en_US]: Your template has been paused for 3 hours due to low quality."
    )
    account.refresh_from_db()
    assert account.messaging_limit_tier == MessagingLimitTier.TIER_2K
