"""Message templates of the simulated business account: the seeded set, submissions, reviews, paging."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,512}$")
_POSITIONAL_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_NAMED_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")


def _seeded_templates() -> list[dict]:
    """The templates every fresh simulator holds (ids are fixed so runs are comparable)."""
    stop_button = {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]}
    return [
        {
            "name": "hello_world",
            "language": "en_US",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                {"type": "BODY", "text": "Welcome and congratulations!! This message comes from the simulator."},
                {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
            ],
        },
        {
            "name": "spring_sale",
            "language": "en_US",
            "category": "MARKETING",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Spring Sale"},
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, our Spring Sale is on! Use promo code {{2}} for an extra 20% off.",
                    "example": {"body_text": [["Mark", "SPRING20"]]},
                },
                {"type": "FOOTER", "text": "Not interested? Tap Stop promotions"},
                stop_button,
            ],
        },
        {
            "name": "order_update",
            "language": "en_US",
            "category": "UTILITY",
            "parameter_format": "NAMED",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hello {{first_name}}, your order {{order_number}} has shipped.",
                    "example": {
                        "body_text_named_params": [
                            {"param_name": "first_name", "example": "Pablo"},
                            {"param_name": "order_number", "example": "860198-230332"},
                        ]
                    },
                },
            ],
        },
        {
            "name": "new_arrivals",
            "language": "en_US",
            "category": "MARKETING",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:simulated"]}},
                {
                    "type": "BODY",
                    "text": "New arrivals are here, {{1}}! Come and see them.",
                    "example": {"body_text": [["Mark"]]},
                },
                stop_button,
            ],
        },
        {
            "name": "welcome_message",
            "language": "en_US",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "BODY", "text": "Hi {{1}}, welcome aboard!", "example": {"body_text": [["Mark"]]}},
            ],
        },
        {
            "name": "welcome_message",
            "language": "es",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "BODY", "text": "Hola {{1}}, ¡bienvenido!", "example": {"body_text": [["Marco"]]}},
            ],
        },
    ]


@dataclass
class TemplateShape:
    """What a send must supply for a template: body parameters, header parameter, buttons."""

    body_positional_count: int = 0
    body_names: tuple[str, ...] = ()
    header_format: str | None = None
    header_text_parameters: int = 0
    button_types: tuple[str, ...] = ()
    named: bool = False
    quick_reply_text: str | None = None  # the first quick-reply button's text (what a simulated tap sends)


@dataclass
class StoredTemplate:
    """One template in one language, with its review outcome when it was submitted here."""

    id: str
    definition: dict
    status: str = "APPROVED"
    final_status: str = "APPROVED"
    reviewed_at: float = 0.0
    rejection_reason: str = "NONE"
    shape: TemplateShape = field(default_factory=TemplateShape)
    paused_at: float | None = None  # set when bad feedback on paced messages pauses it (monotonic time)

    def status_at(self, now: float) -> str:
        """PENDING until the review time, then the review's outcome; PAUSED from `paused_at` on."""
        if self.paused_at is not None and now >= self.paused_at:
            return "PAUSED"
        return self.final_status if now >= self.reviewed_at else self.status

    def as_graph_object(self, now: float) -> dict:
        """The object `GET message_templates` lists."""
        item = dict(self.definition)
        item["id"] = self.id
        item["status"] = self.status_at(now)
        if item["status"] == "REJECTED":
            item["rejected_reason"] = self.rejection_reason
        return item


class TemplateDefinitionError(ValueError):
    """A submitted template is malformed (answered with Graph code 100)."""


def shape_of(definition: dict) -> TemplateShape:
    """Read the parameters a template needs from its components."""
    shape = TemplateShape(named=str(definition.get("parameter_format", "POSITIONAL")).upper() == "NAMED")
    for component in definition.get("components", []):
        kind = str(component.get("type", "")).upper()
        text = component.get("text", "") or ""
        if kind == "BODY":
            if shape.named:
                shape.body_names = tuple(dict.fromkeys(_NAMED_PLACEHOLDER.findall(text)))
            else:
                shape.body_positional_count = len(set(_POSITIONAL_PLACEHOLDER.findall(text)))
        elif kind == "HEADER":
            shape.header_format = str(component.get("format", "TEXT")).upper()
            if shape.header_format == "TEXT":
                pattern = _NAMED_PLACEHOLDER if shape.named else _POSITIONAL_PLACEHOLDER
                shape.header_text_parameters = len(pattern.findall(text))
        elif kind == "BUTTONS":
            buttons = component.get("buttons", [])
            shape.button_types = tuple(str(button.get("type", "")).upper() for button in buttons)
            if shape.quick_reply_text is None:
                shape.quick_reply_text = next(
                    (button.get("text") for button in buttons if str(button.get("type", "")).upper() == "QUICK_REPLY"),
                    None,
                )
    return shape


def check_definition(definition: dict) -> None:
    """Refuse a submission Meta would refuse with code 100."""
    name = definition.get("name")
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise TemplateDefinitionError("name must match ^[a-z0-9_]+$ (at most 512 characters)")
    if not isinstance(definition.get("language"), str) or not definition["language"]:
        raise TemplateDefinitionError("The parameter language is required.")
    if str(definition.get("category", "")).upper() not in CATEGORIES:
        raise TemplateDefinitionError(f"category must be one of {', '.join(CATEGORIES)}")
    components = definition.get("components")
    if not isinstance(components, list) or not components:
        raise TemplateDefinitionError("The parameter components is required.")
    kinds = [str(component.get("type", "")).upper() for component in components if isinstance(component, dict)]
    if len(kinds) != len(components) or kinds.count("BODY") != 1:
        raise TemplateDefinitionError("A template needs exactly one BODY component.")
    for component in components:
        if str(component.get("type", "")).upper() == "HEADER" and str(component.get("format", "")).upper() in (
            MEDIA_FORMATS
        ):
            handles = (component.get("example") or {}).get("header_handle")
            if not handles:
                raise TemplateDefinitionError("A media header needs example.header_handle (Resumable Upload API).")


class TemplateCatalog:
    """The WABA's templates keyed by (name, language); callers hold the simulator's lock."""

    def __init__(self):
        self._templates: dict[tuple[str, str], StoredTemplate] = {}
        self._next_id = 900000000000001
        for definition in _seeded_templates():
            self._add(definition, status="APPROVED", final_status="APPROVED", reviewed_at=0.0)

    def _add(self, definition: dict, *, status: str, final_status: str, reviewed_at: float, reason: str = "NONE"):
        template = StoredTemplate(
            id=str(self._next_id),
            definition=definition,
            status=status,
            final_status=final_status,
            reviewed_at=reviewed_at,
            rejection_reason=reason,
            shape=shape_of(definition),
        )
        self._next_id += 1
        self._templates[(definition["name"], definition["language"])] = template
        return template

    def get(self, name: str, language: str) -> StoredTemplate | None:
        """The template in that language, whatever its status."""
        return self._templates.get((name, language))

    def submit(self, definition: dict, *, reviewed_at: float, rejected: bool) -> StoredTemplate:
        """Store a PENDING submission whose review ends at `reviewed_at` (raises on a name/language clash)."""
        check_definition(definition)
        if (definition["name"], definition["language"]) in self._templates:
            raise TemplateDefinitionError("clash")
        stored = {
            "name": definition["name"],
            "language": definition["language"],
            "category": str(definition["category"]).upper(),
            "parameter_format": str(definition.get("parameter_format", "POSITIONAL")).upper(),
            "components": definition["components"],
        }
        return self._add(
            stored,
            status="PENDING",
            final_status="REJECTED" if rejected else "APPROVED",
            reviewed_at=reviewed_at,
            reason="INVALID_FORMAT" if rejected else "NONE",
        )

    def listing(self, now: float, *, name: str | None = None, status: str | None = None) -> list[dict]:
        """Every template as Graph lists it, in creation order, optionally filtered."""
        items = [template.as_graph_object(now) for template in self._templates.values()]
        if name:
            items = [item for item in items if item["name"] == name]
        if status:
            wanted = {part.strip().upper() for part in status.split(",")}
            items = [item for item in items if item["status"] in wanted]
        return items
