"""Template submission: a draft checked against Meta's rules, its media example uploaded, then sent for review."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from templates_app.models import MessageTemplate, ParameterFormat, TemplateCategory, TemplateStatus
from templates_app.services.graph import business_account_client
from templates_app.structure import (
    BODY_TEXT_MAX,
    BUTTON_TEXT_MAX,
    BUTTON_URL_MAX,
    FOOTER_TEXT_MAX,
    HEADER_TEXT_MAX,
    MEDIA_HEADER_FORMATS,
    PLACEHOLDER,
)
from wacampaigns.models import BusinessAccount

# Meta's rules for a new template [M-TMGMT][M-COMP][M-UTIL] (reference §1.1, §6).
NAME_PATTERN = re.compile(r"^[a-z0-9_]+$")
NAME_MAX = 512
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
NAMED_PARAMETER_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
BUTTONS_MAX = 10
URL_BUTTONS_MAX = 2
PHONE_BUTTONS_MAX = 1
PHONE_PATTERN = re.compile(r"^\+[0-9]{6,19}$")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")
HEADER_FORMATS = ("NONE", "TEXT", *MEDIA_HEADER_FORMATS)
# A header example file's size limits as Meta applies to sends (reference §7).
MEDIA_MAX_BYTES = {"IMAGE": 5 * 1024 * 1024, "VIDEO": 16 * 1024 * 1024, "DOCUMENT": 100 * 1024 * 1024}
MEDIA_MIME_TYPES = {
    "IMAGE": ("image/jpeg", "image/png"),
    "VIDEO": ("video/mp4", "video/3gpp"),
    "DOCUMENT": ("application/pdf",),
}


@dataclass
class ButtonDraft:
    """A button of a new template; `example` is the URL suffix example of a dynamic URL button."""

    type: str
    text: str
    url: str = ""
    example: str = ""
    phone_number: str = ""
    opt_out: bool = False


@dataclass
class HeaderMedia:
    """The sample file shown to Meta's reviewers for an image, video or document header."""

    content: bytes
    mime_type: str
    filename: str


@dataclass
class TemplateDraft:
    """Everything a template submission needs; `*_examples` map placeholder names ("1", "first_name") to values."""

    name: str
    language: str
    category: str
    parameter_format: str = ParameterFormat.POSITIONAL
    header_format: str = "NONE"
    header_text: str = ""
    header_examples: dict[str, str] = field(default_factory=dict)
    header_media: HeaderMedia | None = None
    body_text: str = ""
    body_examples: dict[str, str] = field(default_factory=dict)
    footer_text: str = ""
    buttons: list[ButtonDraft] = field(default_factory=list)


@dataclass(frozen=True)
class RuleViolation:
    """One of Meta's rules a draft breaks: `field` names the form field, `message` says what to fix."""

    field: str
    message: str


class TemplateDraftInvalid(ValueError):
    """A draft breaks Meta's rules; `violations` say what to fix."""

    def __init__(self, violations: list[RuleViolation]):
        super().__init__("; ".join(violation.message for violation in violations))
        self.violations = violations


def _placeholder_problems(
    text: str, *, where: str, field_name: str, named: bool, examples: dict[str, str]
) -> list[RuleViolation]:
    found = list(dict.fromkeys(PLACEHOLDER.findall(text)))
    problems = []
    if named:
        bad = [name for name in found if not NAMED_PARAMETER_PATTERN.match(name)]
        if bad:
            problems.append(
                RuleViolation(
                    field_name,
                    f"{where}: named placeholders are lowercase letters, digits and underscores, "
                    f"starting with a letter or underscore: fix {', '.join('{{' + n + '}}' for n in bad)}.",
                )
            )
    else:
        not_numbers = [name for name in found if not name.isdigit()]
        if not_numbers:
            problems.append(
                RuleViolation(
                    field_name,
                    f"{where}: a positional template uses {{{{1}}}}, {{{{2}}}}…; "
                    f"{', '.join('{{' + n + '}}' for n in not_numbers)} needs the named parameter format.",
                )
            )
        numbers = sorted(int(name) for name in found if name.isdigit())
        if numbers and numbers != list(range(1, len(numbers) + 1)):
            problems.append(
                RuleViolation(
                    field_name,
                    f"{where}: number the placeholders {{{{1}}}} to {{{{{len(numbers)}}}}} without gaps "
                    f"(found {', '.join(str(n) for n in numbers)}).",
                )
            )
    missing = [name for name in found if not str(examples.get(name, "")).strip()]
    if missing:
        problems.append(
            RuleViolation(
                f"{field_name}_examples" if field_name != "buttons" else field_name,
                f"{where}: give an example value for {', '.join('{{' + n + '}}' for n in missing)} "
                "(Meta's reviewers need one per placeholder).",
            )
        )
    return problems


def _header_problems(draft: TemplateDraft, named: bool) -> list[RuleViolation]:
    problems: list[RuleViolation] = []
    header_format = draft.header_format
    if header_format not in HEADER_FORMATS:
        return [RuleViolation("header_format", f"Header format must be one of {', '.join(HEADER_FORMATS)}.")]
    if header_format == "TEXT":
        text = draft.header_text.strip()
        if not text:
            problems.append(RuleViolation("header_text", "Enter the header text, or choose no header."))
        if len(text) > HEADER_TEXT_MAX:
            problems.append(
                RuleViolation(
                    "header_text", f"The header is {len(text)} characters; Meta allows {HEADER_TEXT_MAX}. Shorten it."
                )
            )
        if len(set(PLACEHOLDER.findall(text))) > 1:
            problems.append(RuleViolation("header_text", "A text header can have at most one placeholder."))
        problems += _placeholder_problems(
            text, where="Header", field_name="header", named=named, examples=draft.header_examples
        )
    elif header_format in MEDIA_HEADER_FORMATS:
        media = draft.header_media
        if media is None or not media.content:
            problems.append(
                RuleViolation(
                    "header_media", f"Upload a sample {header_format.lower()} file: Meta's reviewers need an example."
                )
            )
        else:
            if media.mime_type not in MEDIA_MIME_TYPES[header_format]:
                problems.append(
                    RuleViolation(
                        "header_media",
                        f"A {header_format.lower()} header takes {' or '.join(MEDIA_MIME_TYPES[header_format])}, "
                        f"not {media.mime_type or 'an unknown type'}.",
                    )
                )
            if len(media.content) > MEDIA_MAX_BYTES[header_format]:
                problems.append(
                    RuleViolation(
                        "header_media",
                        f"The sample file is {len(media.content) // 1024} KB; a {header_format.lower()} may be at most "
                        f"{MEDIA_MAX_BYTES[header_format] // (1024 * 1024)} MB.",
                    )
                )
    return problems


def _body_problems(draft: TemplateDraft, named: bool) -> list[RuleViolation]:
    text = draft.body_text.strip()
    if not text:
        return [RuleViolation("body_text", "Enter the body text: every template has one.")]
    problems = []
    if len(text) > BODY_TEXT_MAX:
        problems.append(
            RuleViolation("body_text", f"The body is {len(text)} characters; Meta allows {BODY_TEXT_MAX}. Shorten it.")
        )
    if PLACEHOLDER.match(text) or re.search(r"\{\{\s*[A-Za-z0-9_]+\s*\}\}$", text):
        problems.append(
            RuleViolation(
                "body_text", "Meta refuses a body that starts or ends with a placeholder: add text around it."
            )
        )
    return problems + _placeholder_problems(
        text, where="Body", field_name="body", named=named, examples=draft.body_examples
    )


def _footer_problems(draft: TemplateDraft) -> list[RuleViolation]:
    text = draft.footer_text.strip()
    problems = []
    if len(text) > FOOTER_TEXT_MAX:
        problems.append(
            RuleViolation(
                "footer_text", f"The footer is {len(text)} characters; Meta allows {FOOTER_TEXT_MAX}. Shorten it."
            )
        )
    if PLACEHOLDER.search(text):
        problems.append(RuleViolation("footer_text", "A footer can't have placeholders."))
    return problems


def _button_problems(draft: TemplateDraft) -> list[RuleViolation]:
    buttons = draft.buttons
    problems = []
    if len(buttons) > BUTTONS_MAX:
        problems.append(RuleViolation("buttons", f"{len(buttons)} buttons; Meta allows {BUTTONS_MAX}. Remove some."))
    types = [button.type for button in buttons]
    if types.count("URL") > URL_BUTTONS_MAX:
        problems.append(RuleViolation("buttons", f"At most {URL_BUTTONS_MAX} URL buttons."))
    if types.count("PHONE_NUMBER") > PHONE_BUTTONS_MAX:
        problems.append(RuleViolation("buttons", "At most one phone number button."))
    if sum(button.opt_out for button in buttons) > 1:
        problems.append(RuleViolation("buttons", "Mark at most one button as the opt-out button."))
    # Meta groups quick replies apart from call-to-action buttons: one run of each, not interleaved.
    runs = [kind == "QUICK_REPLY" for kind in types]
    if sum(1 for i in range(1, len(runs)) if runs[i] != runs[i - 1]) > 1:
        problems.append(RuleViolation("buttons", "Put all quick-reply buttons together, before or after the others."))
    labels = [button.text.strip() for button in buttons]
    if len(set(labels)) != len(labels):
        problems.append(RuleViolation("buttons", "Button labels must be different from each other."))
    for number, button in enumerate(buttons, start=1):
        where = f"Button {number}"
        if button.type not in BUTTON_TYPES:
            problems.append(RuleViolation("buttons", f"{where}: type must be one of {', '.join(BUTTON_TYPES)}."))
            continue
        if not button.text.strip():
            problems.append(RuleViolation("buttons", f"{where}: enter the label."))
        if len(button.text.strip()) > BUTTON_TEXT_MAX:
            problems.append(
                RuleViolation(
                    "buttons", f"{where}: the label is {len(button.text.strip())} characters; max {BUTTON_TEXT_MAX}."
                )
            )
        if button.opt_out and button.type != "QUICK_REPLY":
            problems.append(RuleViolation("buttons", f"{where}: only a quick-reply button can be the opt-out button."))
        if button.type == "URL":
            problems += _url_button_problems(button, where)
        if button.type == "PHONE_NUMBER" and not PHONE_PATTERN.match(button.phone_number.replace(" ", "")):
            problems.append(
                RuleViolation("buttons", f"{where}: the phone number needs + and the country code, e.g. +15551234567.")
            )
    return problems


def _url_button_problems(button: ButtonDraft, where: str) -> list[RuleViolation]:
    url = button.url.strip()
    problems = []
    if not url.startswith("https://") and not url.startswith("http://"):
        problems.append(RuleViolation("buttons", f"{where}: the URL must start with https://."))
    if len(url) > BUTTON_URL_MAX:
        problems.append(RuleViolation("buttons", f"{where}: the URL is longer than {BUTTON_URL_MAX} characters."))
    placeholders = PLACEHOLDER.findall(url)
    if placeholders:
        if placeholders != ["1"] or not re.search(r"\{\{\s*1\s*\}\}$", url):
            problems.append(RuleViolation("buttons", f"{where}: a dynamic URL has one {{{{1}}}}, at its end."))
        if not button.example.strip():
            problems.append(
                RuleViolation("buttons", f"{where}: give an example URL suffix for {{{{1}}}} (e.g. summer-sale).")
            )
    return problems


def template_draft_violations(draft: TemplateDraft) -> list[RuleViolation]:
    """Every one of Meta's rules the draft breaks (empty when it can be submitted)."""
    problems: list[RuleViolation] = []
    if not NAME_PATTERN.match(draft.name) or len(draft.name) > NAME_MAX:
        problems.append(
            RuleViolation(
                "name", "Use only lowercase letters, digits and underscores (e.g. spring_sale_2025), at most 512."
            )
        )
    if not LANGUAGE_PATTERN.match(draft.language):
        problems.append(RuleViolation("language", "Use a language code Meta knows, e.g. en_US, es, pt_BR."))
    if draft.category not in (TemplateCategory.MARKETING, TemplateCategory.UTILITY):
        problems.append(
            RuleViolation(
                "category", "Choose Marketing or Utility (authentication templates are created in WhatsApp Manager)."
            )
        )
    if draft.parameter_format not in ParameterFormat.values:
        problems.append(RuleViolation("parameter_format", "Choose positional or named parameters."))
    named = draft.parameter_format == ParameterFormat.NAMED
    return (
        problems
        + _header_problems(draft, named)
        + _body_problems(draft, named)
        + _footer_problems(draft)
        + _button_problems(draft)
    )


def _text_example(kind: str, text: str, examples: dict[str, str], named: bool) -> dict[str, Any]:
    names = list(dict.fromkeys(PLACEHOLDER.findall(text)))
    if not names:
        return {}
    if named:
        return {f"{kind}_text_named_params": [{"param_name": name, "example": examples[name]} for name in names]}
    ordered = [examples[name] for name in sorted(names, key=int)]
    return {f"{kind}_text": ordered if kind == "header" else [ordered]}


def template_components_build(draft: TemplateDraft, *, header_handle: str | None = None) -> list[dict[str, Any]]:
    """Meta's `components` for a valid draft (the media header's example is `header_handle`)."""
    named = draft.parameter_format == ParameterFormat.NAMED
    components: list[dict[str, Any]] = []
    if draft.header_format == "TEXT":
        header = {"type": "HEADER", "format": "TEXT", "text": draft.header_text.strip()}
        example = _text_example("header", header["text"], draft.header_examples, named)
        if example:
            header["example"] = example
        components.append(header)
    elif draft.header_format in MEDIA_HEADER_FORMATS:
        components.append(
            {"type": "HEADER", "format": draft.header_format, "example": {"header_handle": [header_handle]}}
        )
    body = {"type": "BODY", "text": draft.body_text.strip()}
    example = _text_example("body", body["text"], draft.body_examples, named)
    if example:
        body["example"] = example
    components.append(body)
    if draft.footer_text.strip():
        components.append({"type": "FOOTER", "text": draft.footer_text.strip()})
    if draft.buttons:
        buttons = []
        for button in draft.buttons:
            wire: dict[str, Any] = {"type": button.type, "text": button.text.strip()}
            if button.type == "URL":
                wire["url"] = button.url.strip()
                if PLACEHOLDER.search(button.url):
                    wire["example"] = [button.example.strip()]
            elif button.type == "PHONE_NUMBER":
                wire["phone_number"] = button.phone_number.replace(" ", "")
            buttons.append(wire)
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


def template_submit(*, business_account: BusinessAccount, draft: TemplateDraft) -> MessageTemplate:
    """Check the draft, upload a media example (Resumable Upload API), submit it, store the PENDING version.

    Raises TemplateDraftInvalid before any call to Meta, and CloudApiError when Meta refuses (its message
    says why, e.g. a name and language that already exist).
    """
    violations = template_draft_violations(draft)
    if violations:
        raise TemplateDraftInvalid(violations)
    client = business_account_client(business_account)
    header_handle = None
    if draft.header_format in MEDIA_HEADER_FORMATS and draft.header_media is not None:
        header_handle = client.upload_header_handle(
            content=draft.header_media.content,
            mime_type=draft.header_media.mime_type,
            filename=draft.header_media.filename,
        )
    components = template_components_build(draft, header_handle=header_handle)
    created = client.create_template(
        name=draft.name,
        language=draft.language,
        category=draft.category,
        components=components,
        parameter_format=draft.parameter_format,
    )
    status = created.status.upper() if created.status.upper() in TemplateStatus.values else TemplateStatus.PENDING
    category = str(created.category or draft.category).upper()
    with transaction.atomic():
        template, _ = MessageTemplate.objects.update_or_create(
            business_account=business_account,
            name=draft.name,
            language=draft.language,
            defaults={
                "meta_template_id": created.template_id,
                "category": category if category in TemplateCategory.values else draft.category,
                "status": status,
                "parameter_format": draft.parameter_format,
                "components": components,
                "rejection_reason": "",
                "opt_out_button_texts": [button.text.strip() for button in draft.buttons if button.opt_out],
                "last_synced_at": timezone.now(),
            },
        )
    return template


def template_opt_out_buttons_set(*, template: MessageTemplate, texts: list[str]) -> MessageTemplate:
    """Mark which quick-reply buttons mean "opt me out" (ours, beside Meta's components; synced ones too)."""
    quick_replies = {
        str(button.get("text", ""))
        for component in template.components
        if str(component.get("type", "")).upper() == "BUTTONS"
        for button in component.get("buttons") or []
        if str(button.get("type", "")).upper() == "QUICK_REPLY"
    }
    unknown = sorted(set(texts) - quick_replies)
    if unknown:
        raise TemplateDraftInvalid(
            [RuleViolation("opt_out_button_texts", f"Not a quick-reply button of this template: {', '.join(unknown)}.")]
        )
    template.opt_out_button_texts = [text for text in texts if text in quick_replies]
    template.save(update_fields=["opt_out_button_texts", "updated_at"])
    return template
