"""Per-process caches of what every API send reads: an account's numbers and a template's language versions.

Reading them was a third of a send's queries, and these rows change rarely (a number when an administrator adds
one, a template when Meta reviews or recategorizes it). An entry lives `TTL_SECONDS`; a miss (a number or a
template not seen yet) reloads at once; a save or delete of a number or a template in this process clears the
cache, so only another process's change (the webhook drainer, the hourly sync) waits for the TTL. A stale entry
never lets a message through that should not go: the sender re-checks consent against the row's template as it is
at sending time, and Meta refuses a template it paused or disabled.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models.signals import post_delete, post_save

from templates_app.models import MessageTemplate
from templates_app.selectors import template_versions
from wacampaigns.models import BusinessAccount, PhoneNumber

TTL_SECONDS = 5.0
MAX_ENTRIES = 1000

# key → (monotonic time loaded, value)
_cache: dict[tuple, tuple[float, Any]] = {}


def _fresh(key: tuple) -> Any:
    entry = _cache.get(key)
    if entry is None or time.monotonic() - entry[0] > TTL_SECONDS:
        return None
    return entry[1]


def _store(key: tuple, value: Any) -> Any:
    if len(_cache) >= MAX_ENTRIES:
        _cache.clear()
    _cache[key] = (time.monotonic(), value)
    return value


def account_numbers(account: BusinessAccount, *, reload: bool = False) -> list[PhoneNumber]:
    """The account's phone numbers, oldest first."""
    key = ("numbers", account.pk)
    cached = None if reload else _fresh(key)
    if cached is None:
        cached = _store(key, list(PhoneNumber.objects.filter(business_account=account).order_by("id")))
    return cached


def account_number(account: BusinessAccount, phone_number_id: str | None) -> PhoneNumber | None:
    """The number with this id (or the account's first number for None); a number not seen yet reloads."""
    for reload in (False, True):
        numbers = account_numbers(account, reload=reload)
        if phone_number_id is None:
            if numbers:
                return numbers[0]
        else:
            found = next((number for number in numbers if number.phone_number_id == phone_number_id), None)
            if found is not None:
                return found
    return None


def account_template_versions(account: BusinessAccount, name: str) -> dict[str, MessageTemplate]:
    """`template_versions` of the account's template; an unknown name is not cached (a sync may add it)."""
    key = ("templates", account.pk, name)
    cached = _fresh(key)
    if cached is None:
        cached = template_versions(business_account=account, name=name)
        if cached:
            _store(key, cached)
    return cached


def lookups_clear(**_signal_kwargs) -> None:
    _cache.clear()


for _model in (PhoneNumber, MessageTemplate):
    post_save.connect(lookups_clear, sender=_model, dispatch_uid=f"api_lookups_{_model.__name__}_save")
    post_delete.connect(lookups_clear, sender=_model, dispatch_uid=f"api_lookups_{_model.__name__}_delete")
