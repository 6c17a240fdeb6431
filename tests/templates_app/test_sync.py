"""Template sync over real HTTP: the simulator (paging, review outcomes) and Meta's template-list samples."""

import pytest
from django_q.models import Schedule

from templates_app import services
from templates_app.models import MessageTemplate, ParameterFormat, TemplateStatus
from templates_app.schedules import SYNC_SCHEDULE_NAME
from templates_app.services import TemplateDraft, business_account_templates_sync, template_submit
from templates_app.tasks import templates_sync_all
from tests import factories

from .conftest import account_for, sample, wait_until

pytestmark = pytest.mark.django_db


def _rows(business_account):
    return {
        (template.name, template.language): template
        for template in MessageTemplate.objects.filter(business_account=business_account)
    }


def test_sync_follows_paging_at_the_simulator(sim_account, monkeypatch):
    monkeypatch.setattr(services.sync, "PAGE_SIZE", 4)

    result = business_account_templates_sync(business_account=sim_account)

    rows = _rows(sim_account)
    assert set(rows) == {
        ("hello_world", "en_US"),
        ("spring_sale", "en_US"),
        ("order_update", "en_US"),
        ("new_arrivals", "en_US"),
        ("welcome_message", "en_US"),
        ("welcome_message", "es"),
    }
    assert (result.created, result.updated, result.marked_deleted) == (6, 0, 0)
    assert rows[("order_update", "en_US")].parameter_format == ParameterFormat.NAMED
    assert rows[("spring_sale", "en_US")].category == "MARKETING"
    assert all(row.status == TemplateStatus.APPROVED and row.meta_template_id for row in rows.values())
    assert all(row.last_synced_at is not None for row in rows.values())


def test_second_sync_changes_nothing_and_gone_templates_are_marked_deleted_not_removed(sim_account):
    business_account_templates_sync(business_account=sim_account)
    gone = factories.template(business_account=sim_account, name="summer_sale", meta_template_id="555")
    factories.campaign(sender=sim_account.phone_numbers.get(), template_name="summer_sale")

    result = business_account_templates_sync(business_account=sim_account)

    gone.refresh_from_db()
    assert gone.status == TemplateStatus.DELETED
    assert (result.created, result.updated, result.marked_deleted) == (0, 0, 1)
    assert MessageTemplate.objects.filter(business_account=sim_account).count() == 7


@pytest.mark.parametrize(
    ("reject_share", "final", "reason"), [(0.0, "APPROVED", ""), (1.0, "REJECTED", "INVALID_FORMAT")]
)
def test_sync_follows_a_submitted_template_from_pending_to_its_review_outcome(
    start_simulator, reject_share, final, reason
):
    business_account = account_for(start_simulator(template_reject_share=reject_share).base_url)
    draft = TemplateDraft(
        name="autumn_sale",
        language="en_US",
        category="MARKETING",
        body_text="Hi {{1}}, autumn is here!",
        body_examples={"1": "Ann"},
    )
    template = template_submit(business_account=business_account, draft=draft)
    assert template.status == TemplateStatus.PENDING

    def reviewed():
        business_account_templates_sync(business_account=business_account)
        template.refresh_from_db()
        return template.status != TemplateStatus.PENDING

    wait_until(reviewed)
    assert template.status == final
    assert template.rejection_reason == reason


def test_template_list_samples_paged_then_status_changes_and_deletions(page_server):
    business_account = account_for(page_server.base_url)
    with_previous_category = sample("template_list_response_with_previous_category.json")
    stop_promotions = sample("template_list_response_stop_promotions_official.json")
    page_server.pages = [with_previous_category, stop_promotions]

    first = business_account_templates_sync(business_account=business_account)

    rows = _rows(business_account)
    assert len(page_server.requests) == 2
    assert first.created == 8  # hello_world en_US is in both samples: one row, updated by the second page
    assert rows[("welcome_template3", "en_US")].status == TemplateStatus.REJECTED
    assert rows[("number_confirmation", "pt_BR")].category == "AUTHENTICATION"
    assert rows[("2023_april_promo", "en_US")].meta_template_id == "920070352646140"
    assert rows[("hello_world", "en_US")].meta_template_id == "1192339204654487"

    promo = stop_promotions["data"][1]
    page_server.pages = [{"data": [stop_promotions["data"][0], {**promo, "status": "PAUSED"}], "paging": {}}]
    second = business_account_templates_sync(business_account=business_account)

    rows = _rows(business_account)
    assert rows[("2023_april_promo", "en_US")].status == TemplateStatus.PAUSED
    assert rows[("hello_world", "en_US")].status == TemplateStatus.APPROVED
    assert second.marked_deleted == 6
    assert {key for key, row in rows.items() if row.status == TemplateStatus.DELETED} == {
        ("welcome_template3", "en_US"),
        ("schedule_confirmation5", "pt_BR"),
        ("schedule_confirmation3", "pt_BR"),
        ("number_confirmation", "pt_BR"),
        ("welcome_template2", "en_US"),
        ("confirmacao_horario", "pt_BR"),
    }

    page_server.pages = [with_previous_category]
    business_account_templates_sync(business_account=business_account)
    assert _rows(business_account)[("welcome_template2", "en_US")].status == TemplateStatus.APPROVED


def test_scheduled_task_syncs_every_account_and_reports_failures(sim_account, page_server):
    broken = factories.business_account(graph_api_base_url=page_server.base_url + "/nowhere", graph_api_version="v23.0")
    page_server.pages = []  # the page server answers 500 (IndexError in the handler): not a Graph answer

    outcomes = templates_sync_all()

    assert outcomes[sim_account.waba_id].startswith("6 new")
    assert outcomes[broken.waba_id].startswith("failed")
    assert MessageTemplate.objects.filter(business_account=sim_account).count() == 6


def test_the_sync_schedule_exists_after_migrate():
    schedule = Schedule.objects.get(name=SYNC_SCHEDULE_NAME)
    assert schedule.func == "templates_app.tasks.templates_sync_all"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 60, -1)
