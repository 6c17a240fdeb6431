"""Admin forms: template submission, opt-out button marks, and the campaign form with its variable mapping."""

from __future__ import annotations

from typing import Any

from django import forms
from django.template.loader import render_to_string

from templates_app.mapping import VariableMappingInvalid, variable_mapping_check
from templates_app.models import MessageTemplate, ParameterFormat, TemplateCategory
from templates_app.rendering import CONTACT_FIELDS
from templates_app.selectors import template_for_campaign, template_names_for_campaigns
from templates_app.services import ButtonDraft, HeaderMedia, TemplateDraft
from templates_app.services.submission import HEADER_FORMATS
from templates_app.structure import TemplateParameter, template_structure
from wacampaigns.models import BusinessAccount, Campaign, PhoneNumber, VariableSource

BUTTONS_HELP = (
    "One button per line, fields separated by |:<br>"
    "<code>QUICK_REPLY | Stop promotions | opt-out</code> (opt-out: tapping it opts the contact out of marketing)<br>"
    "<code>URL | Shop now | https://shop.example.com/items/{{1}} | summer-sale</code> "
    "(a dynamic URL ends with {{1}}; the last field is an example suffix)<br>"
    "<code>PHONE_NUMBER | Call us | +15551234567</code>"
)
EXAMPLES_HELP = (
    "One per line, <code>placeholder=example</code>, e.g. <code>1=Maria</code> or <code>first_name=Maria</code>."
)


def _examples_parse(text: str) -> dict[str, str]:
    examples = {}
    for line in text.splitlines():
        name, separator, value = line.partition("=")
        if separator:
            examples[name.strip().strip("{}").strip()] = value.strip()
    return examples


def _buttons_parse(text: str) -> list[ButtonDraft]:
    buttons = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        kind, label = parts[0].upper().replace(" ", "_"), parts[1] if len(parts) > 1 else ""
        rest = parts[2:]
        if kind == "URL":
            buttons.append(
                ButtonDraft(
                    type=kind, text=label, url=rest[0] if rest else "", example=rest[1] if len(rest) > 1 else ""
                )
            )
        elif kind == "PHONE_NUMBER":
            buttons.append(ButtonDraft(type=kind, text=label, phone_number=rest[0] if rest else ""))
        else:
            opt_out = any(part.lower().replace("_", "-") in ("opt-out", "optout") for part in rest)
            buttons.append(ButtonDraft(type=kind, text=label, opt_out=opt_out))
    return buttons


class TemplateSubmissionForm(forms.Form):
    """A new template for Meta's review; `draft()` is what `template_submit` takes."""

    business_account = forms.ModelChoiceField(queryset=BusinessAccount.objects.select_related("meta_app"))
    name = forms.CharField(max_length=512, help_text="Lowercase letters, digits and underscores, e.g. spring_sale.")
    language = forms.CharField(max_length=15, initial="en_US", help_text="e.g. en_US, es, pt_BR.")
    category = forms.ChoiceField(
        choices=[(c.value, c.label) for c in (TemplateCategory.MARKETING, TemplateCategory.UTILITY)]
    )
    parameter_format = forms.ChoiceField(choices=ParameterFormat.choices, initial=ParameterFormat.POSITIONAL)
    header_format = forms.ChoiceField(choices=[(value, value.title()) for value in HEADER_FORMATS], initial="NONE")
    header_text = forms.CharField(required=False, max_length=200, help_text="Up to 60 characters and one placeholder.")
    header_examples = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 1}), help_text=EXAMPLES_HELP)
    header_media = forms.FileField(
        required=False, help_text="A sample image (JPEG/PNG), video (MP4) or document (PDF) for Meta's reviewers."
    )
    body_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text="Up to 1024 characters.")
    body_examples = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=EXAMPLES_HELP)
    footer_text = forms.CharField(required=False, max_length=200, help_text="Up to 60 characters, no placeholders.")
    buttons = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text=BUTTONS_HELP)

    def draft(self) -> TemplateDraft:
        """The draft from the cleaned data."""
        data = self.cleaned_data
        upload = data.get("header_media")
        media = None
        if upload is not None:
            media = HeaderMedia(content=upload.read(), mime_type=upload.content_type or "", filename=upload.name)
        return TemplateDraft(
            name=data["name"].strip(),
            language=data["language"].strip(),
            category=data["category"],
            parameter_format=data["parameter_format"],
            header_format=data["header_format"],
            header_text=data.get("header_text", ""),
            header_examples=_examples_parse(data.get("header_examples", "")),
            header_media=media,
            body_text=data["body_text"],
            body_examples=_examples_parse(data.get("body_examples", "")),
            footer_text=data.get("footer_text", ""),
            buttons=_buttons_parse(data.get("buttons", "")),
        )


class MessageTemplateForm(forms.ModelForm):
    """A synced or submitted template: only our local opt-out marks are editable."""

    opt_out_button_texts = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Opt-out buttons",
        help_text="Quick-reply buttons that opt the contact out of marketing when tapped (e.g. Stop promotions).",
    )

    class Meta:
        model = MessageTemplate
        fields = ["opt_out_button_texts"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        buttons = template_structure(self.instance).buttons if self.instance.pk else ()
        texts = [button.text for button in buttons if button.type == "QUICK_REPLY"]
        self.fields["opt_out_button_texts"].choices = [(text, text) for text in texts]


# --- campaign variable mapping -------------------------------------------------------------------------


class VariableMappingWidget(forms.Widget):
    """One row per template parameter: source, value and default (inputs named `<name>__<key>__<part>`)."""

    template_name = "templates_app/variable_mapping_widget.html"

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.parameters: list[TemplateParameter] = []
        self.template_label = ""

    def value_from_datadict(self, data, files, name) -> dict[str, dict] | None:
        prefix = f"{name}__"
        if not any(key.startswith(prefix) for key in data):
            return None
        mapping: dict[str, dict] = {}
        for parameter in self.parameters:
            entry = {part: data.get(f"{prefix}{parameter.key}__{part}", "") for part in ("source", "value", "default")}
            if any(entry.values()):
                mapping[parameter.key] = entry
        return mapping

    def render(self, name, value, attrs=None, renderer=None):
        value = value if isinstance(value, dict) else {}
        rows = [
            {
                "parameter": parameter,
                "prefix": f"{name}__{parameter.key}__",
                "entry": value.get(parameter.key) or {},
                "sources": [(VariableSource.CONSTANT, "Constant")]
                if parameter.is_media
                else list(VariableSource.choices),
            }
            for parameter in self.parameters
        ]
        return render_to_string(
            self.template_name,
            {"rows": rows, "template_label": self.template_label, "contact_fields": CONTACT_FIELDS},
        )


class VariableMappingField(forms.Field):
    widget = VariableMappingWidget

    def to_python(self, value: Any) -> dict:
        return value if isinstance(value, dict) else {}


class CampaignForm(forms.ModelForm):
    """The campaign form: the template by name, and a value source for each of its parameters.

    The parameters shown are those of the chosen template (its fallback-language version); after changing
    the template, save once to see and map the new parameters.
    """

    template_name = forms.ChoiceField(help_text="The template's name at Meta; sync templates first.")
    variable_mapping = VariableMappingField(required=False, label="Variable mapping")

    class Meta:
        model = Campaign
        # The admin's fieldsets decide what is shown; these are the fields staff edit.
        fields = [
            "name",
            "sender",
            "template_name",
            "fallback_language",
            "include_tags",
            "exclude_tags",
            "attribute_filters",
            "variable_mapping",
            "scheduled_at",
            "concurrency",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = template_names_for_campaigns()
        current = self.instance.template_name if self.instance.pk else ""
        if current and current not in {name for name, _ in choices}:
            choices.append((current, f"{current} (not listed at Meta)"))
        self.fields["template_name"].choices = [("", "---------"), *choices]
        self.template = self._chosen_template()
        widget = self.fields["variable_mapping"].widget
        if self.template is not None:
            widget.parameters = list(template_structure(self.template).parameters)
            widget.template_label = str(self.template)
            self.fields["variable_mapping"].help_text = (
                "For each parameter: where its value comes from (contact field: name, phone, language, username; "
                "custom attribute: its name; constant: the text, or for a media header an https:// link or media "
                "id), and a default for contacts that lack the value."
            )
        else:
            self.fields["variable_mapping"].help_text = "Choose the template and save to map its parameters."

    def _value(self, name: str) -> str:
        if self.is_bound:
            return str(self.data.get(self.add_prefix(name)) or "")
        value = self.initial.get(name, getattr(self.instance, name if name != "sender" else "sender_id", ""))
        return str(value or "")

    def _chosen_template(self) -> MessageTemplate | None:
        name, sender_id = self._value("template_name"), self._value("sender")
        if not name or not sender_id.isdigit():
            return None
        sender = PhoneNumber.objects.select_related("business_account").filter(pk=int(sender_id)).first()
        if sender is None:
            return None
        fallback_language = self._value("fallback_language") or "en_US"
        return template_for_campaign(
            business_account=sender.business_account, name=name, fallback_language=fallback_language
        )

    def clean(self):
        cleaned = super().clean()
        if self.template is None:
            if cleaned.get("template_name") and cleaned.get("sender"):
                self.add_error("template_name", "The sender's business account has no template by this name.")
            return cleaned
        mapping = cleaned.get("variable_mapping") or {}
        keys = [parameter.key for parameter in template_structure(self.template).parameters]
        if keys and not set(keys) & set(mapping) and not self.instance.variable_mapping:
            # The template was just chosen: the mapping rows appear now; ask for them instead of failing on each.
            self.add_error("variable_mapping", f"Map the parameters of {self.template}: {', '.join(keys)}.")
            return cleaned
        try:
            cleaned["variable_mapping"] = variable_mapping_check(template=self.template, variable_mapping=mapping)
        except VariableMappingInvalid as err:
            self.add_error("variable_mapping", list(err.problems))
        return cleaned
