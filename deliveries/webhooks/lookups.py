"""Per-process caches of what every webhook POST reads: app secrets and phone-number routes.

A status POST must cost a few queries (Meta wants a median under 250 ms, reference/cloud-api.md §5.3), and
these rows almost never change. An entry lives `TTL_SECONDS`; a miss (a new app, a new number) reloads at
once; a save or delete of a Meta app, account or number in this process clears both caches, so only another
process's edit waits for the TTL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db.models.signals import post_delete, post_save

from wacampaigns.models import BusinessAccount, MetaApp, PhoneNumber

TTL_SECONDS = 30.0


@dataclass
class _Entry:
    value: dict
    loaded_at: float


_cache: dict[str, _Entry] = {}


def _fresh(name: str) -> dict | None:
    entry = _cache.get(name)
    if entry is None or time.monotonic() - entry.loaded_at > TTL_SECONDS:
        return None
    return entry.value


def _store(name: str, value: dict) -> dict:
    _cache[name] = _Entry(value, time.monotonic())
    return value


def app_secrets(*, reload: bool = False) -> dict[int, str]:
    """Meta app id → app secret, for signature checks."""
    cached = None if reload else _fresh("secrets")
    return cached if cached is not None else _store("secrets", dict(MetaApp.objects.values_list("pk", "app_secret")))


def phone_routes(phone_number_ids: set[str], *, meta_app_id: int | None) -> dict[str, PhoneNumber]:
    """phone_number_id → PhoneNumber (with its account) for numbers of the given app; misses reload."""
    cached = _fresh("phones") or {}
    key = {(pid, meta_app_id) for pid in phone_number_ids}
    if not key <= cached.keys():
        found = PhoneNumber.objects.filter(
            phone_number_id__in=phone_number_ids, business_account__meta_app_id=meta_app_id
        ).select_related("business_account")
        cached = {**cached, **{(phone.phone_number_id, meta_app_id): phone for phone in found}}
        cached.update({k: None for k in key if k not in cached})
        _store("phones", cached)
    return {
        pid: phone for (pid, app), phone in cached.items() if app == meta_app_id and pid in phone_number_ids and phone
    }


def lookups_clear(**_signal_kwargs) -> None:
    _cache.clear()


for _model in (MetaApp, BusinessAccount, PhoneNumber):
    post_save.connect(lookups_clear, sender=_model, dispatch_uid=f"webhook_lookups_{_model.__name__}_save")
    post_delete.connect(lookups_clear, sender=_model, dispatch_uid=f"webhook_lookups_{_model.__name__}_delete")
