"""Template sync: Meta's template list (every page) written onto MessageTemplate rows of one account."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from templates_app.models import MessageTemplate, ParameterFormat, TemplateCategory, TemplateStatus
from templates_app.services.graph import business_account_client
from wacampaigns.models import BusinessAccount, QualityRating

logger = logging.getLogger(__name__)

# Fields asked of `GET /{waba}/message_templates`; quality and rejection reason are not in the default set [QS].
# Page size asked of Meta; `paging.next` is followed until it is absent.
PAGE_SIZE = 100
LIST_FIELDS = (
    "id",
    "name",
    "language",
    "status",
    "category",
    "sub_category",
    "parameter_format",
    "components",
    "quality_score",
    "rejected_reason",
)
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")


@dataclass(frozen=True)
class SyncResult:
    """What one sync changed."""

    created: int = 0
    updated: int = 0
    marked_deleted: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return f"{self.created} new, {self.updated} updated, {self.marked_deleted} gone at Meta (marked deleted)" + (
            f", {self.skipped} skipped (unreadable)" if self.skipped else ""
        )


def _quality(value: Any) -> str:
    # Seen as a string ("GREEN") and as {"score": "GREEN", "date": ...}; its shape is not documented [QS].
    score = value.get("score") if isinstance(value, dict) else value
    score = str(score or "").upper()
    return score if score in QualityRating.values else QualityRating.UNKNOWN


def _rejection_reason(item: dict[str, Any], status: str) -> str:
    reason = str(item.get("rejected_reason") or "")
    if status != TemplateStatus.REJECTED or reason.upper() == "NONE":
        return ""
    return reason


def _fields_from(item: dict[str, Any], existing: MessageTemplate | None) -> dict[str, Any] | None:
    """Our columns for one listed template; None if it can't be stored (logged)."""
    name, language = item.get("name"), item.get("language")
    if not isinstance(name, str) or not _NAME.match(name) or not isinstance(language, str) or not language:
        logger.warning("Template sync: skipping a listed template without a valid name and language: %r", item)
        return None
    status = str(item.get("status", "")).upper()
    if status not in TemplateStatus.values or status == TemplateStatus.DELETED:
        logger.warning("Template sync: %s [%s] has an unknown status %r", name, language, item.get("status"))
        status = existing.status if existing is not None else TemplateStatus.PENDING
    category = str(item.get("category", "")).upper()
    if category not in TemplateCategory.values:
        category = existing.category if existing is not None else TemplateCategory.MARKETING
    parameter_format = str(item.get("parameter_format") or ParameterFormat.POSITIONAL).upper()
    if parameter_format not in ParameterFormat.values:
        parameter_format = ParameterFormat.POSITIONAL
    components = item.get("components")
    return {
        "name": name,
        "language": language[:15],
        "meta_template_id": str(item.get("id") or "")[:32],
        "status": status,
        "category": category,
        "parameter_format": parameter_format,
        "components": components if isinstance(components, list) else [],
        "quality_score": _quality(item.get("quality_score")),
        "rejection_reason": _rejection_reason(item, status),
    }


@transaction.atomic
def template_list_apply(*, business_account: BusinessAccount, listed: list[dict[str, Any]]) -> SyncResult:
    """Make the account's rows match Meta's full template list.

    Rows absent from the list are marked DELETED, never removed: campaigns name templates and deliveries
    point at the version they sent. A template that comes back is updated like any other.
    """
    now = timezone.now()
    rows = {
        (template.name, template.language): template
        for template in MessageTemplate.objects.select_for_update().filter(business_account=business_account)
    }
    by_meta_id = {template.meta_template_id: template for template in rows.values() if template.meta_template_id}
    created = updated = skipped = 0
    seen: set[int] = set()
    for item in listed:
        existing = rows.get((item.get("name"), item.get("language"))) or by_meta_id.get(str(item.get("id") or ""))
        fields = _fields_from(item, existing)
        if fields is None:
            skipped += 1
            continue
        holder = by_meta_id.get(fields["meta_template_id"])
        if holder is not None and holder is not existing:
            # Meta's id now names another (name, language): free it on the stale row first (unique column).
            MessageTemplate.objects.filter(pk=holder.pk).update(meta_template_id="", updated_at=now)
            holder.meta_template_id = ""
        if existing is None:
            template = MessageTemplate.objects.create(business_account=business_account, last_synced_at=now, **fields)
            rows[(template.name, template.language)] = template
            created += 1
        else:
            changed = {key: value for key, value in fields.items() if getattr(existing, key) != value}
            MessageTemplate.objects.filter(pk=existing.pk).update(last_synced_at=now, updated_at=now, **fields)
            updated += bool(changed)
            template = existing
        if fields["meta_template_id"]:
            by_meta_id[fields["meta_template_id"]] = template
        seen.add(template.pk)
    gone = [
        template.pk
        for template in rows.values()
        if template.pk not in seen and template.status != TemplateStatus.DELETED
    ]
    marked_deleted = MessageTemplate.objects.filter(pk__in=gone).update(
        status=TemplateStatus.DELETED, last_synced_at=now, updated_at=now
    )
    return SyncResult(created=created, updated=updated, marked_deleted=marked_deleted, skipped=skipped)


def business_account_templates_sync(*, business_account: BusinessAccount) -> SyncResult:
    """Fetch every page of the account's templates from Meta and apply them (raises CloudApiError)."""
    listed = business_account_client(business_account).list_templates(fields=LIST_FIELDS, limit=PAGE_SIZE)
    result = template_list_apply(business_account=business_account, listed=listed)
    logger.info("Template sync of %s: %s", business_account.waba_id, result)
    return result
