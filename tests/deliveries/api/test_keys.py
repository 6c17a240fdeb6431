"""API keys: hashing, authentication, revocation, last-used time, the admin's show-once, per-key rate limits."""

import hashlib
import re
import types
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from deliveries.api import keys
from deliveries.api.errors import RateLimited
from deliveries.api.keys import api_key_create, api_key_rate_limit_take, api_key_revoke
from deliveries.api.models import ApiKey, ApiKeyRequestCount


def _code(response):
    return response.status_code, response.json()["code"]


def test_key_is_stored_only_as_its_sha256(key):
    api_key, plain = key
    row = ApiKey.objects.get(pk=api_key.pk)
    assert re.fullmatch(r"wac_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", plain)
    assert row.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in {
        str(value) for value in ApiKey.objects.values_list(*[f.attname for f in ApiKey._meta.fields]).get()
    }


def test_valid_key_authenticates_and_records_last_use(api, key, account):
    response = api.get("/api/v1/ping")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "business_account": account.waba_id}
    assert ApiKey.objects.get(pk=key[0].pk).last_used_at is not None


def test_missing_malformed_and_wrong_keys_are_401(key):
    _, plain = key
    assert _code(Client().get("/api/v1/ping")) == (401, "invalid_api_key")
    assert _code(Client(HTTP_AUTHORIZATION=f"Token {plain}").get("/api/v1/ping")) == (401, "invalid_api_key")
    assert _code(Client(HTTP_AUTHORIZATION="Bearer wac_x").get("/api/v1/ping")) == (401, "invalid_api_key")
    tampered = plain[:-1] + ("A" if plain[-1] != "A" else "B")
    assert _code(Client(HTTP_AUTHORIZATION=f"Bearer {tampered}").get("/api/v1/ping")) == (401, "invalid_api_key")


def test_revoked_key_is_refused_at_once(api, key):
    assert api.get("/api/v1/ping").status_code == 200
    api_key_revoke(api_key=key[0])

    assert _code(api.get("/api/v1/ping")) == (401, "revoked_api_key")
    assert _code(api.post_json("/api/v1/messages", {})) == (401, "revoked_api_key")


def test_rate_limit_answers_429_with_retry_after(account):
    _, plain = api_key_create(name="Tight", business_account=account, rate_limit_per_minute=2)
    _, other_plain = api_key_create(name="Other", business_account=account, rate_limit_per_minute=2)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")

    statuses = [client.get("/api/v1/ping").status_code for _ in range(3)]
    limited = client.get("/api/v1/ping")

    assert statuses == [200, 200, 429]
    assert _code(limited) == (429, "rate_limited")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["details"]["retry_after_seconds"] == int(limited["Retry-After"])
    # Per key: another key is not affected.
    assert Client(HTTP_AUTHORIZATION=f"Bearer {other_plain}").get("/api/v1/ping").status_code == 200


def _clock_at(monkeypatch, minute: int) -> None:
    """Every count lands in `minute` (a minute number), whenever the test runs."""
    monkeypatch.setattr(keys, "time", types.SimpleNamespace(time=lambda: minute * keys.RATE_WINDOW_SECONDS + 30.0))


THREADS = 8
COUNTS_PER_THREAD = 25


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers race on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_of_a_key_are_each_counted(account, monkeypatch):
    total = THREADS * COUNTS_PER_THREAD
    api_key, _ = api_key_create(name="Busy", business_account=account, rate_limit_per_minute=total)
    _clock_at(monkeypatch, 29_000_000)

    def count_requests() -> int:
        try:
            refused = 0
            for _ in range(COUNTS_PER_THREAD):
                try:
                    api_key_rate_limit_take(api_key)
                except RateLimited:
                    refused += 1
            return refused
        finally:
            connection.close()  # this thread's connection

    with ThreadPoolExecutor(THREADS) as pool:
        refused = sum(pool.map(lambda _: count_requests(), range(THREADS)))

    assert refused == 0
    # Exactly `total` counted: the next request is the first one past the limit.
    with pytest.raises(RateLimited):
        api_key_rate_limit_take(api_key)


def test_a_key_starting_a_minute_deletes_its_counts_older_than_the_previous_minute(account, monkeypatch):
    api_key, _ = api_key_create(name="Steady", business_account=account)
    other_key, _ = api_key_create(name="Idle", business_account=account)
    for minute in (100, 101, 101):
        _clock_at(monkeypatch, minute)
        api_key_rate_limit_take(api_key)
    api_key_rate_limit_take(other_key)

    _clock_at(monkeypatch, 102)
    api_key_rate_limit_take(api_key)
    api_key_rate_limit_take(api_key)

    assert sorted(ApiKeyRequestCount.objects.values_list("api_key_id", "minute", "count")) == [
        (api_key.pk, 101, 2),
        (api_key.pk, 102, 2),
        (other_key.pk, 101, 1),
    ]


def test_admin_creates_a_key_shown_once_and_revokes_it(account):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)

    response = client.post(
        "/admin/deliveries/apikey/add/",
        {"name": "CRM", "business_account": account.pk, "rate_limit_per_minute": ""},
        follow=True,
    )

    shown = re.search(r"wac_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", response.content.decode())
    assert shown, "the new key is shown in the confirmation message"
    row = ApiKey.objects.get(name="CRM")
    assert row.key_hash == hashlib.sha256(shown.group(0).encode()).hexdigest()
    assert row.created_by == admin
    assert shown.group(0) not in client.get(f"/admin/deliveries/apikey/{row.pk}/change/").content.decode()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {shown.group(0)}").get("/api/v1/ping").status_code == 200

    client.post("/admin/deliveries/apikey/", {"action": "revoke", "_selected_action": [row.pk]})

    assert ApiKey.objects.get(pk=row.pk).revoked_at is not None
    assert Client(HTTP_AUTHORIZATION=f"Bearer {shown.group(0)}").get("/api/v1/ping").status_code == 401
