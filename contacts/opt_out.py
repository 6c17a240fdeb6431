"""Signed opt-out links: a per-contact token (no enumerable id), its URL, and the per-client rate limit."""

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact, OptOutPageRequestCount
from wacampaigns.minute_counts import minute_count_in_cache, minute_count_in_table
from wacampaigns.sqlite_writes import sqlite_write_turn

_SALT = "contacts.opt-out"


class InvalidOptOutToken(ValueError):
    """The token was tampered with, or names a contact that no longer exists."""


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT, sep=".")


def contact_opt_out_token(contact: Contact) -> str:
    """The contact's opt-out token, also usable alone as a URL button's suffix variable."""
    return _signer().sign(signing.b62_encode(contact.pk))


def contact_from_opt_out_token(token: str) -> Contact:
    try:
        contact_id = signing.b62_decode(_signer().unsign(token))
    except (signing.BadSignature, ValueError) as err:
        raise InvalidOptOutToken("the link is not valid") from err
    try:
        return Contact.objects.get(pk=contact_id)
    except Contact.DoesNotExist as err:
        raise InvalidOptOutToken("the link names no contact") from err


def contact_opt_out_url(contact: Contact) -> str:
    """The public opt-out page of the contact, on settings.PUBLIC_BASE_URL."""
    path = reverse("contacts:opt_out", kwargs={"token": contact_opt_out_token(contact)})
    return settings.PUBLIC_BASE_URL + path


def client_address(request) -> str:
    """The client's address: behind TRUSTED_PROXY_COUNT proxies, the one they saw (never a spoofable hop)."""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def _minute() -> int:
    return int(timezone.now().timestamp() // 60)


def rate_limit_exceeded(request) -> bool:
    """Counts this request where every worker sees it (Redis, or a table); True over the limit."""
    # An address is at most 45 characters (IPv6 with an IPv4 tail); longer only if a proxy sends junk.
    address = client_address(request)[:64]
    minute = _minute()
    if settings.REDIS_URL:
        count = minute_count_in_cache(f"opt-out-rate:{address}:{minute}", timeout=120)
    else:
        with sqlite_write_turn():
            count = _count_in_table(address, minute)
    return count > settings.OPT_OUT_RATE_LIMIT_PER_MINUTE


def _count_in_table(address: str, minute: int) -> int:
    count = minute_count_in_table(OptOutPageRequestCount, minute=minute, client_address=address)
    if count == 1:  # an address's first request this minute: only the previous minute may still be counted in
        OptOutPageRequestCount.objects.filter(minute__lt=minute - 1).delete()
    return count
