"""Template changes Meta reports by webhook (status, quality, category) applied to the stored template rows.

Self-contained on purpose: the webhook receiver calls `template_meta_event_apply`; pausing the campaigns a
stopped template affects is the caller's business (it knows the campaigns).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from wacampaigns.models.accounts import BusinessAccount, QualityRating
from wacampaigns.whatsapp.events import TemplateCategoryEvent, TemplateQualityEvent, TemplateStatusEvent

logger = logging.getLogger(__name__)

# Webhook `event` values that are not template statuses themselves (reference/cloud-api.md §5.5).
_STATUS_FOR_EVENT = {
    "REINSTATED": TemplateStatus.APPROVED,
    "UNPAUSED": TemplateStatus.APPROVED,
    "UNARCHIVED": TemplateStatus.APPROVED,
}

TemplateMetaEvent = TemplateStatusEvent | TemplateQualityEvent | TemplateCategoryEvent


def _templates(business_account: BusinessAccount, event: TemplateMetaEvent):
    by_name = Q(name=event.template_name or "", language=event.language or "")
    return MessageTemplate.objects.select_for_update().filter(
        Q(meta_template_id=event.template_id) | by_name, business_account=business_account
    )


def _status_changes(event: TemplateStatusEvent) -> dict:
    changes: dict = {}
    status = _STATUS_FOR_EVENT.get(event.event, event.event)
    if status in TemplateStatus.values:
        changes["status"] = status
    else:
        logger.warning("Template %s: status event %s kept as is", event.template_id, event.event)
    if event.category in TemplateCategory.values:
        changes["category"] = event.category
    if event.event == "REJECTED":
        reason = " — ".join(
            part for part in (event.reason, event.rejection_reason, event.rejection_recommendation) if part
        )
        changes["rejection_reason"] = reason
    elif status == TemplateStatus.APPROVED:
        changes["rejection_reason"] = ""
    return changes


@transaction.atomic
def template_meta_event_apply(*, business_account: BusinessAccount, event: TemplateMetaEvent) -> list[MessageTemplate]:
    """Updates status / quality / category / rejection reason of the template the event names.

    Returns the rows changed (none when the template is not synced yet: the next sync brings it).
    """
    if isinstance(event, TemplateStatusEvent):
        changes = _status_changes(event)
    elif isinstance(event, TemplateQualityEvent):
        score = event.new_quality_score if event.new_quality_score in QualityRating.values else QualityRating.UNKNOWN
        changes = {"quality_score": score}
    else:
        changes = {"category": event.new_category} if event.new_category in TemplateCategory.values else {}
    templates = list(_templates(business_account, event))
    if not templates:
        logger.info("Template event for %s (%s) not synced yet: %r", event.template_name, event.template_id, event)
        return []
    id_taken = any(template.meta_template_id == event.template_id for template in templates)
    for template in templates:
        for field, value in changes.items():
            setattr(template, field, value)
        if not template.meta_template_id and not id_taken:
            template.meta_template_id, id_taken = event.template_id, True
        template.updated_at = timezone.now()
        template.save(update_fields=[*changes, "meta_template_id", "updated_at"])
    return templates
