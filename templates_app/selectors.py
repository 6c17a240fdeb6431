"""Reads of message templates."""

from templates_app.models import MessageTemplate, TemplateStatus
from wacampaigns.models import BusinessAccount

STOPPED_BY_META = (TemplateStatus.PAUSED, TemplateStatus.DISABLED)


def template_for_recipient(
    *, business_account: BusinessAccount, name: str, contact_language: str, fallback_language: str
) -> MessageTemplate | None:
    """The approved version in the contact's language if there is one, else the approved fallback.

    None when neither can be sent, and also when the contact's own version was paused or disabled by Meta:
    that stops only the recipients who would get it, instead of switching them to another language.
    """
    versions = {
        template.language: template
        for template in MessageTemplate.objects.filter(
            business_account=business_account, name=name, language__in={contact_language, fallback_language} - {""}
        )
    }
    own = versions.get(contact_language)
    if own is not None and own.status == TemplateStatus.APPROVED:
        return own
    if own is not None and own.status in STOPPED_BY_META:
        return None
    fallback = versions.get(fallback_language)
    return fallback if fallback is not None and fallback.status == TemplateStatus.APPROVED else None
