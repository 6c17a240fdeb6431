"""Reads of message templates: the version each recipient gets, and lists for forms and sync."""

from __future__ import annotations

from templates_app.models import MessageTemplate, TemplateStatus
from wacampaigns.models import BusinessAccount

# A contact's own version stopped by Meta stops that contact instead of switching them to another language.
STOPPED_BY_META = (TemplateStatus.PAUSED, TemplateStatus.DISABLED, TemplateStatus.REJECTED)


def template_versions(*, business_account: BusinessAccount, name: str) -> dict[str, MessageTemplate]:
    """Every language version of a template, by language code (one query; load once per batch)."""
    return {
        template.language: template
        for template in MessageTemplate.objects.filter(business_account=business_account, name=name)
    }


def _own_version(versions: dict[str, MessageTemplate], contact_language: str) -> MessageTemplate | None:
    """The contact's exact language, else the same language without region ("es_MX" → "es")."""
    if not contact_language:
        return None
    own = versions.get(contact_language)
    if own is None and "_" in contact_language:
        own = versions.get(contact_language.split("_", 1)[0])
    return own


def template_version_choose(
    versions: dict[str, MessageTemplate], *, contact_language: str, fallback_language: str
) -> MessageTemplate | None:
    """The approved version in the contact's language if there is one, else the approved fallback.

    None when neither can be sent, and also when the contact's own version was paused, disabled or rejected
    by Meta: that stops only the recipients who would get it. No query: `versions` is `template_versions`.
    """
    own = _own_version(versions, contact_language)
    if own is not None and own.status == TemplateStatus.APPROVED:
        return own
    if own is not None and own.status in STOPPED_BY_META:
        return None
    fallback = versions.get(fallback_language)
    return fallback if fallback is not None and fallback.status == TemplateStatus.APPROVED else None


def template_version_unavailable_reason(
    versions: dict[str, MessageTemplate], *, name: str, contact_language: str, fallback_language: str
) -> str:
    """Why `template_version_choose` gave None, for staff (e.g. the skip reason of a delivery)."""
    own = _own_version(versions, contact_language)
    if own is not None and own.status in STOPPED_BY_META:
        reason = f": {own.rejection_reason}" if own.rejection_reason else ""
        return f"Template {name} [{own.language}] is {own.get_status_display().lower()}{reason}"
    fallback = versions.get(fallback_language)
    if fallback is None:
        return f"Template {name} has no version in {contact_language or 'the contact language'} or {fallback_language}"
    return f"Template {name} [{fallback_language}] is {fallback.get_status_display().lower()}"


def template_for_recipient(
    *, business_account: BusinessAccount, name: str, contact_language: str, fallback_language: str
) -> MessageTemplate | None:
    """The version of `name` to send a contact (one query; see `template_version_choose` for the rule)."""
    return template_version_choose(
        template_versions(business_account=business_account, name=name),
        contact_language=contact_language,
        fallback_language=fallback_language,
    )


def template_names_for_campaigns() -> list[tuple[str, str]]:
    """(name, "name (languages)") of every template still listed at Meta, for the campaign form."""
    languages: dict[str, list[str]] = {}
    for name, language in (
        MessageTemplate.objects.exclude(status=TemplateStatus.DELETED)
        .order_by("name", "language")
        .values_list("name", "language")
    ):
        languages.setdefault(name, []).append(language)
    return [(name, f"{name} ({', '.join(codes)})") for name, codes in languages.items()]


def template_for_campaign(*, business_account: BusinessAccount, name: str, fallback_language: str):
    """The version whose parameters a campaign maps: the fallback language, else any other (None if none)."""
    versions = template_versions(business_account=business_account, name=name)
    if fallback_language in versions:
        return versions[fallback_language]
    return next(iter(sorted(versions.values(), key=lambda template: template.language)), None)
