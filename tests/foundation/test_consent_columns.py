"""The contact's consent columns always equal a replay of its ConsentEvent history."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.consent import ConsentChange, consent_state_from_history
from contacts.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource, Contact, MarketingConsent
from contacts.services import contact_consent_record
from tests import factories

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 1, tzinfo=UTC)

consent_events = st.lists(
    st.tuples(
        st.sampled_from(ConsentKind.values),
        st.sampled_from(ConsentScope.values),
        st.sampled_from(ConsentSource.values),
        # Small offsets make ties and backdated events (imports with an old opt-in date) common.
        st.integers(min_value=0, max_value=20).map(lambda minutes: START + timedelta(minutes=minutes)),
    ),
    max_size=12,
)


def _replayed(contact: Contact):
    history = ConsentEvent.objects.filter(contact=contact).order_by("occurred_at", "id")
    return consent_state_from_history(ConsentChange(e.kind, e.scope, e.source, e.occurred_at) for e in history)


def _columns(contact: Contact):
    contact.refresh_from_db()
    return (
        contact.marketing_consent,
        contact.marketing_consent_source,
        contact.marketing_consent_at,
        contact.opted_out_of_all_at,
        contact.opted_out_of_all_source,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=consent_events)
def test_columns_equal_the_history_after_any_sequence(events):
    contact = factories.contact()
    for kind, scope, source, occurred_at in events:
        contact_consent_record(contact=contact, kind=kind, scope=scope, source=source, occurred_at=occurred_at)
        replayed = _replayed(contact)
        assert _columns(contact) == (
            replayed.marketing_consent,
            replayed.marketing_consent_source,
            replayed.marketing_consent_at,
            replayed.opted_out_of_all_at,
            replayed.opted_out_of_all_source,
        )


def test_opt_out_of_everything_then_opt_in_restores_marketing():
    contact = factories.contact()
    contact_consent_record(
        contact=contact,
        kind=ConsentKind.OPT_IN,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.IMPORT,
        occurred_at=START,
    )
    contact_consent_record(
        contact=contact,
        kind=ConsentKind.OPT_OUT,
        scope=ConsentScope.ALL,
        source=ConsentSource.LINK_PAGE,
        occurred_at=START + timedelta(days=1),
    )
    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.opted_out_of_all_source) == (
        MarketingConsent.OPTED_OUT,
        ConsentSource.LINK_PAGE,
    )
    contact_consent_record(
        contact=contact,
        kind=ConsentKind.OPT_IN,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.ADMIN,
        occurred_at=START + timedelta(days=2),
    )
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.OPTED_IN
    assert contact.opted_out_of_all_at is None


def test_a_backdated_opt_in_does_not_override_a_later_opt_out():
    contact = factories.contact()
    contact_consent_record(
        contact=contact,
        kind=ConsentKind.OPT_OUT,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.KEYWORD,
        occurred_at=START + timedelta(days=10),
    )
    contact_consent_record(
        contact=contact,
        kind=ConsentKind.OPT_IN,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.IMPORT,
        occurred_at=START,
    )
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.OPTED_OUT
    assert contact.consent_events.count() == 2
