"""The consent rules: how a history of opt-in and opt-out events folds into a contact's current state."""

from dataclasses import dataclass, replace
from datetime import datetime

from contacts.models import ConsentKind, ConsentScope, MarketingConsent


@dataclass(frozen=True)
class ConsentState:
    """The contact's consent columns, as a value."""

    marketing_consent: str = MarketingConsent.UNKNOWN
    marketing_consent_source: str = ""
    marketing_consent_at: datetime | None = None
    opted_out_of_all_at: datetime | None = None
    opted_out_of_all_source: str = ""


@dataclass(frozen=True)
class ConsentChange:
    kind: str
    scope: str
    source: str
    occurred_at: datetime


def consent_state_apply(state: ConsentState, change: ConsentChange) -> ConsentState:
    """The state after one more event (events must be applied in `occurred_at`, then id, order).

    - An opt-out of marketing stops marketing; an opt-out of everything stops every message.
    - An opt-in (either scope) is consent to marketing and lifts an opt-out of everything: a person
      who asks for messages again wants them.
    """
    if change.kind == ConsentKind.OPT_OUT:
        state = replace(
            state,
            marketing_consent=MarketingConsent.OPTED_OUT,
            marketing_consent_source=change.source,
            marketing_consent_at=change.occurred_at,
        )
        if change.scope == ConsentScope.ALL:
            state = replace(state, opted_out_of_all_at=change.occurred_at, opted_out_of_all_source=change.source)
        return state
    return ConsentState(
        marketing_consent=MarketingConsent.OPTED_IN,
        marketing_consent_source=change.source,
        marketing_consent_at=change.occurred_at,
    )


def consent_state_from_history(changes) -> ConsentState:
    """Replays a whole history, already ordered by (`occurred_at`, id)."""
    state = ConsentState()
    for change in changes:
        state = consent_state_apply(state, change)
    return state
