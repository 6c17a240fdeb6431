"""Tracked links: a signed per-delivery token, its redirect URL, and recording a click.

How a campaign uses it: set `Campaign.click_target_url` (the campaign admin, "Variables"). Then either
- a URL button with a dynamic suffix: the template's button URL (approved at Meta) is
  `{PUBLIC_BASE_URL}/t/{{1}}` and the button's variable is `delivery_click_token(delivery)`; or
- a link in a body parameter: the parameter's value is `delivery_click_url(delivery)`.
The redirect goes to the campaign's target URL and nowhere else: the token names a delivery, never an address,
so a tampered token, or a delivery whose campaign has no http(s) target, gets a 404 and no redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.urls import reverse

from deliveries.models import Delivery

_SALT = "deliveries.click"
# WhatsApp's link-preview fetcher announces itself; its request is not a person clicking.
_PREVIEW_AGENTS = ("WhatsApp/", "facebookexternalhit")


class InvalidClickToken(ValueError):
    """The token was tampered with, names no delivery, or its campaign has no target URL."""


@dataclass(frozen=True, slots=True)
class ClickTarget:
    """Where a valid token leads, and the delivery it counts for."""

    delivery_id: int
    url: str


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT, sep=".")


def delivery_click_token(delivery: Delivery) -> str:
    """The delivery's click token: URL-safe, usable alone as a URL button's dynamic suffix."""
    return _signer().sign(signing.b62_encode(delivery.pk))


def delivery_click_url(delivery: Delivery) -> str:
    """The tracked link of the delivery, on settings.PUBLIC_BASE_URL."""
    return settings.PUBLIC_BASE_URL + reverse("deliveries:click", kwargs={"token": delivery_click_token(delivery)})


def _is_web_address(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def click_target_resolve(token: str) -> ClickTarget:
    """The delivery a token names and its campaign's target URL; InvalidClickToken otherwise."""
    try:
        delivery_id = signing.b62_decode(_signer().unsign(token))
    except (signing.BadSignature, ValueError) as err:
        raise InvalidClickToken("the link is not valid") from err
    target = (
        Delivery.objects.filter(pk=delivery_id, campaign__isnull=False)
        .values_list("campaign__click_target_url", flat=True)
        .first()
    )
    if not target or not _is_web_address(target):
        raise InvalidClickToken("the link leads nowhere")
    return ClickTarget(delivery_id=delivery_id, url=target)


def is_link_preview(user_agent: str) -> bool:
    return user_agent.startswith(_PREVIEW_AGENTS)


def delivery_click_record(*, delivery_id: int) -> None:
    """Counts one click: the first one's time stays in `clicked_at`."""
    Delivery.objects.filter(pk=delivery_id).update(
        clicked_at=Coalesce(F("clicked_at"), Now()), click_count=F("click_count") + 1
    )
