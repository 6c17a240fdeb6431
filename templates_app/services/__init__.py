"""Writes and rules for message templates: sync from Meta, submission for review, local marks.

One module per job; everything public is importable from `templates_app.services`.
"""

from templates_app.services.graph import business_account_client
from templates_app.services.submission import (
    ButtonDraft,
    HeaderMedia,
    RuleViolation,
    TemplateDraft,
    TemplateDraftInvalid,
    template_components_build,
    template_draft_violations,
    template_opt_out_buttons_set,
    template_submit,
)
from templates_app.services.sync import SyncResult, business_account_templates_sync, template_list_apply

__all__ = [
    "ButtonDraft",
    "HeaderMedia",
    "RuleViolation",
    "SyncResult",
    "TemplateDraft",
    "TemplateDraftInvalid",
    "business_account_client",
    "business_account_templates_sync",
    "template_components_build",
    "template_draft_violations",
    "template_list_apply",
    "template_opt_out_buttons_set",
    "template_submit",
]
