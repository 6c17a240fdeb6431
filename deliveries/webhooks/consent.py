"""Opt-outs and opt-ins that arrive by webhook: keywords, opt-out buttons and Meta's marketing preference.

Every change goes through `contacts.services.contact_consent_record`, so it becomes a ConsentEvent with a
scope and a source:

- a whole-message keyword (settings `CONSENT_OPT_OUT_MARKETING_KEYWORDS`, `CONSENT_OPT_OUT_ALL_KEYWORDS`,
  `CONSENT_OPT_IN_KEYWORDS`), compared case- and accent-insensitively, punctuation around it ignored;
- a template quick-reply button listed in `MessageTemplate.opt_out_button_texts` → marketing opt-out;
- Meta's `user_preferences` stop → marketing opt-out (source META_PREFERENCE); resume → undoes only that: it
  records an opt-in only when every opt-out since the contact's last opt-in came from Meta, and only if the
  contact had opted in before (a resume is not consent the person never gave us).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings

from contacts.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource, Contact
from contacts.services import contact_consent_record
from wacampaigns.whatsapp.events import MarketingPreference

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsentIntent:
    """What a message asks for: the kind and scope of the consent change."""

    kind: ConsentKind
    scope: ConsentScope


def keyword_normalize(text: str) -> str:
    """Case-folded, accents and surrounding punctuation removed, inner spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(
        char if (char.isalnum() or char.isspace()) else " "
        for char in decomposed
        if not unicodedata.combining(char) and unicodedata.category(char) != "Cf"
    )
    return " ".join(kept.casefold().split())


@lru_cache(maxsize=8)
def _keyword_table(
    opt_out_marketing: tuple[str, ...], opt_out_all: tuple[str, ...], opt_in: tuple[str, ...]
) -> dict[str, ConsentIntent]:
    table: dict[str, ConsentIntent] = {}
    for keywords, intent in (
        (opt_in, ConsentIntent(ConsentKind.OPT_IN, ConsentScope.MARKETING)),
        (opt_out_marketing, ConsentIntent(ConsentKind.OPT_OUT, ConsentScope.MARKETING)),
        (opt_out_all, ConsentIntent(ConsentKind.OPT_OUT, ConsentScope.ALL)),
    ):
        for keyword in keywords:
            if keyword_normalize(keyword):
                table[keyword_normalize(keyword)] = intent
    return table


def consent_keyword_intent(text: str | None) -> ConsentIntent | None:
    """The consent change a whole message asks for, if it is one of the configured keywords."""
    if not text or len(text) > 100:
        return None
    table = _keyword_table(
        tuple(settings.CONSENT_OPT_OUT_MARKETING_KEYWORDS),
        tuple(settings.CONSENT_OPT_OUT_ALL_KEYWORDS),
        tuple(settings.CONSENT_OPT_IN_KEYWORDS),
    )
    return table.get(keyword_normalize(text))


def opt_out_button_matches(button_text: str | None, opt_out_button_texts: list) -> bool:
    """Whether a tapped quick-reply button is one the template marks as opt-out."""
    if not button_text:
        return False
    wanted = keyword_normalize(button_text)
    return any(isinstance(text, str) and keyword_normalize(text) == wanted for text in opt_out_button_texts)


def contact_consent_from_message(
    *, contact: Contact, intent: ConsentIntent, source: ConsentSource, occurred_at: datetime, evidence: str
) -> ConsentEvent:
    """Records what a message asked for (a keyword or an opt-out button)."""
    return contact_consent_record(
        contact=contact,
        kind=intent.kind,
        scope=intent.scope,
        source=source,
        occurred_at=occurred_at,
        evidence=evidence[:2000],
    )


def _already_recorded(contact: Contact, kind: ConsentKind, occurred_at: datetime) -> bool:
    return ConsentEvent.objects.filter(
        contact=contact, kind=kind, source=ConsentSource.META_PREFERENCE, occurred_at=occurred_at
    ).exists()


def _resume_allowed(contact: Contact) -> bool:
    """True when only Meta-preference opt-outs stand since the contact's last opt-in."""
    last_opt_in = (
        ConsentEvent.objects.filter(contact=contact, kind=ConsentKind.OPT_IN).order_by("-occurred_at", "-id").first()
    )
    if last_opt_in is None:
        return False
    since = ConsentEvent.objects.filter(
        contact=contact, kind=ConsentKind.OPT_OUT, occurred_at__gte=last_opt_in.occurred_at
    )
    return since.exists() and not since.exclude(source=ConsentSource.META_PREFERENCE).exists()


def contact_marketing_preference_apply(
    *, contact: Contact, preference: MarketingPreference, occurred_at: datetime, evidence: str
) -> ConsentEvent | None:
    """Meta's `user_preferences` stop/resume; a repeated webhook records nothing twice."""
    if preference is MarketingPreference.STOP:
        if _already_recorded(contact, ConsentKind.OPT_OUT, occurred_at):
            return None
        return contact_consent_record(
            contact=contact,
            kind=ConsentKind.OPT_OUT,
            scope=ConsentScope.MARKETING,
            source=ConsentSource.META_PREFERENCE,
            occurred_at=occurred_at,
            evidence=evidence[:2000],
        )
    if preference is MarketingPreference.RESUME:
        if _already_recorded(contact, ConsentKind.OPT_IN, occurred_at) or not _resume_allowed(contact):
            logger.info("Meta resume for contact %s not applied: an opt-out made elsewhere stands", contact.pk)
            return None
        return contact_consent_record(
            contact=contact,
            kind=ConsentKind.OPT_IN,
            scope=ConsentScope.MARKETING,
            source=ConsentSource.META_PREFERENCE,
            occurred_at=occurred_at,
            evidence=evidence[:2000],
        )
    logger.warning("Unknown marketing preference for contact %s ignored: %s", contact.pk, evidence)
    return None
