"""Submission: Meta's rules checked first with messages that say what to fix; then the simulator's review."""

import pytest
from django.urls import Resolver404, resolve, reverse

from deliveries.webhooks.draining import webhook_events_drain_pending
from templates_app.models import MessageTemplate, TemplateStatus
from templates_app.services import ButtonDraft, HeaderMedia, TemplateDraft, TemplateDraftInvalid, template_submit
from templates_app.services.submission import template_draft_violations

from .conftest import WABA_ID, account_for, sim_get, wait_until

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _draft(**overrides) -> TemplateDraft:
    fields = {
        "name": "spring_sale_2025",
        "language": "en_US",
        "category": "MARKETING",
        "body_text": "Hi {{1}}, use code {{2}} today.",
        "body_examples": {"1": "Ann", "2": "SPRING"},
    }
    return TemplateDraft(**{**fields, **overrides})


def _messages(draft) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in template_draft_violations(draft):
        found.setdefault(violation.field, []).append(violation.message)
    return found


def test_a_valid_draft_has_no_violations():
    assert template_draft_violations(_draft()) == []


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"name": "Spring Sale"}, "name", "lowercase letters, digits and underscores"),
        ({"language": "english"}, "language", "e.g. en_US"),
        ({"category": "AUTHENTICATION"}, "category", "WhatsApp Manager"),
        ({"body_text": "x" * 1025}, "body_text", "1025 characters; Meta allows 1024"),
        (
            {"body_text": "{{1}} is your code", "body_examples": {"1": "1"}},
            "body_text",
            "starts or ends with a placeholder",
        ),
        ({"body_text": "Hi {{1}} and {{3}}.", "body_examples": {"1": "a", "3": "b"}}, "body", "without gaps"),
        ({"body_examples": {"1": "Ann"}}, "body_examples", "example value for {{2}}"),
        ({"body_text": "Hi {{name}}!"}, "body", "needs the named parameter format"),
        ({"header_format": "TEXT", "header_text": "H" * 61}, "header_text", "61 characters; Meta allows 60"),
        ({"header_format": "IMAGE"}, "header_media", "Upload a sample image"),
        (
            {
                "header_format": "IMAGE",
                "header_media": HeaderMedia(content=b"%PDF", mime_type="application/pdf", filename="a.pdf"),
            },
            "header_media",
            "image/jpeg or image/png",
        ),
        ({"footer_text": "Reply {{1}}"}, "footer_text", "can't have placeholders"),
        (
            {"buttons": [ButtonDraft(type="QUICK_REPLY", text=f"B{n}") for n in range(11)]},
            "buttons",
            "11 buttons; Meta allows 10",
        ),
        ({"buttons": [ButtonDraft(type="QUICK_REPLY", text="x" * 26)]}, "buttons", "26 characters; max 25"),
        (
            {
                "buttons": [
                    ButtonDraft(type="PHONE_NUMBER", text="A", phone_number="+1555123456"),
                    ButtonDraft(type="PHONE_NUMBER", text="B", phone_number="+1555123457"),
                ]
            },
            "buttons",
            "At most one phone number button",
        ),
        (
            {"buttons": [ButtonDraft(type="URL", text="Go", url="https://x.example/{{1}}", opt_out=True, example="a")]},
            "buttons",
            "only a quick-reply",
        ),
        (
            {"buttons": [ButtonDraft(type="URL", text="Go", url="https://x.example/{{1}}")]},
            "buttons",
            "example URL suffix",
        ),
        (
            {"buttons": [ButtonDraft(type="PHONE_NUMBER", text="Call", phone_number="5551234")]},
            "buttons",
            "+ and the country code",
        ),
        (
            {
                "buttons": [
                    ButtonDraft(type="QUICK_REPLY", text="A"),
                    ButtonDraft(type="URL", text="B", url="https://x.example"),
                    ButtonDraft(type="QUICK_REPLY", text="C"),
                ]
            },
            "buttons",
            "quick-reply buttons together",
        ),
    ],
)
def test_each_broken_rule_says_what_to_fix(overrides, field, fragment):
    messages = _messages(_draft(**overrides))
    assert any(fragment in message for message in messages.get(field, [])), messages


def test_invalid_draft_is_refused_before_calling_meta(sim_account, simulator):
    with pytest.raises(TemplateDraftInvalid):
        template_submit(business_account=sim_account, draft=_draft(name="Bad Name"))

    assert sim_get(simulator, "/_sim/stats")["templates_submitted"] == 0
    assert not MessageTemplate.objects.exists()


def test_submission_with_an_image_header_uploads_the_example_and_stores_the_pending_version(sim_account, simulator):
    draft = _draft(
        header_format="IMAGE",
        header_media=HeaderMedia(content=PNG, mime_type="image/png", filename="spring.png"),
        footer_text="Tap Stop promotions to opt out",
        buttons=[
            ButtonDraft(type="QUICK_REPLY", text="Stop promotions", opt_out=True),
            ButtonDraft(type="URL", text="Shop", url="https://shop.example/{{1}}", example="spring"),
        ],
    )

    template = template_submit(business_account=sim_account, draft=draft)

    [listed] = sim_get(
        simulator, f"/v23.0/{WABA_ID}/message_templates?name=spring_sale_2025&access_token=simulator-access-token"
    )["data"]
    header = template.components[0]
    assert template.status == TemplateStatus.PENDING
    assert template.meta_template_id == listed["id"]
    assert template.opt_out_button_texts == ["Stop promotions"]
    assert header["format"] == "IMAGE"
    assert header["example"]["header_handle"][0]
    assert listed["components"] == template.components
    assert listed["components"][1]["example"] == {"body_text": [["Ann", "SPRING"]]}
    assert listed["components"][3]["buttons"][1] == {
        "type": "URL",
        "text": "Shop",
        "url": "https://shop.example/{{1}}",
        "example": ["spring"],
    }


def test_admin_submit_page_shows_rule_messages_and_meta_refusals(admin_client, sim_account):
    url = reverse("admin:templates_app_messagetemplate_submit")
    base = {
        "business_account": sim_account.pk,
        "name": "welcome_message",
        "language": "en_US",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "header_format": "NONE",
        "body_text": "Hi {{1}}, welcome aboard!",
        "body_examples": "1=Ann",
        "buttons": "QUICK_REPLY | Stop promotions | opt-out",
    }

    broken = admin_client.post(url, {**base, "name": "Welcome!"}).content.decode()
    clash = admin_client.post(url, base).content.decode()
    created = admin_client.post(url, {**base, "name": "welcome_back"})

    assert "Use only lowercase letters, digits and underscores" in broken
    assert "Meta refused the template" in clash
    assert "already exists" in clash
    template = MessageTemplate.objects.get(name="welcome_back")
    assert created.status_code == 302
    assert template.opt_out_button_texts == ["Stop promotions"]


def _webhook_receiver_exists() -> bool:
    try:
        resolve("/webhooks/whatsapp/")
    except Resolver404:
        return False
    return True


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("reject_share", "final"), [(0.0, TemplateStatus.APPROVED), (1.0, TemplateStatus.REJECTED)])
def test_submitted_template_becomes_approved_or_rejected_through_the_webhook(
    start_simulator, live_server, reject_share, final
):
    if not _webhook_receiver_exists():
        pytest.skip("the webhook receiver (/webhooks/whatsapp/) is not built yet")
    simulator = start_simulator(
        webhooks_enabled=True,
        callback_url=f"{live_server.url}/webhooks/whatsapp/",
        template_reject_share=reject_share,
    )
    business_account = account_for(simulator.base_url)
    business_account.meta_app.app_secret = "simulator-app-secret"
    business_account.meta_app.save()

    template = template_submit(business_account=business_account, draft=_draft())
    assert template.status == TemplateStatus.PENDING

    def reviewed():
        # The endpoint only stores the webhook; no qcluster runs here, so apply it as the drainer task would.
        webhook_events_drain_pending()
        template.refresh_from_db()
        return template.status != TemplateStatus.PENDING

    wait_until(reviewed, timeout=20)
    assert template.status == final
    if final == TemplateStatus.REJECTED:
        assert template.rejection_reason
