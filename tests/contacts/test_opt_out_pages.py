"""Opt-out link pages: GET changes nothing, POST opts out, tampered tokens, re-subscribe, language, rate limit."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from contacts.models import ConsentEvent, ConsentSource, Contact, MarketingConsent, OptOutPageRequestCount
from contacts.opt_out import client_address, contact_opt_out_token, contact_opt_out_url, rate_limit_exceeded
from contacts.services import contact_create


@pytest.fixture
def contact(db):
    return contact_create(phone="+34612345678", language="es")


def _url(contact, done=False):
    path = contact_opt_out_url(contact).split("://", 1)[1].split("/", 1)[1]
    return "/" + path + ("done/" if done else "")


def test_the_url_is_signed_and_on_the_public_base(contact, settings):
    settings.PUBLIC_BASE_URL = "https://campaigns.example.com"
    url = contact_opt_out_url(contact)

    assert url.startswith("https://campaigns.example.com/opt-out/")
    assert url.endswith(contact_opt_out_token(contact) + "/")
    assert str(contact.pk) + "/" not in url


def test_get_shows_the_confirmation_and_changes_nothing(contact, client):
    response = client.get(_url(contact))

    assert response.status_code == 200
    assert "¿Quieres dejar de recibir" in response.content.decode()
    assert '<html lang="es">' in response.content.decode()
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.UNKNOWN
    assert ConsentEvent.objects.count() == 0


@pytest.mark.parametrize(("scope", "all_at_set"), [("marketing", False), ("all", True)])
def test_post_opts_out(contact, scope, all_at_set):
    client = Client(enforce_csrf_checks=True)
    page = client.get(_url(contact))
    response = client.post(_url(contact), {"scope": scope, "csrfmiddlewaretoken": page.context["csrf_token"]})

    assert response.status_code == 302
    assert response["Location"] == _url(contact, done=True)
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.OPTED_OUT
    assert contact.marketing_consent_source == ConsentSource.LINK_PAGE
    assert (contact.opted_out_of_all_at is not None) is all_at_set


def test_post_without_csrf_token_is_refused(contact):
    response = Client(enforce_csrf_checks=True).post(_url(contact), {"scope": "all"})

    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.UNKNOWN


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "1.abc", lambda t: "x"]
)
def test_tampered_token_shows_a_clear_page_and_changes_nothing(contact, client, mangle):
    token = contact_opt_out_token(contact)
    response = client.post(f"/opt-out/{mangle(token)}/", {"scope": "all"})

    assert response.status_code == 404
    assert "not valid" in response.content.decode()
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.UNKNOWN


def test_done_page_offers_resubscribing(contact, client):
    client.post(_url(contact), {"scope": "all"})
    done = client.get(_url(contact, done=True))
    assert "Volver a suscribirme" in done.content.decode()

    response = client.post(_url(contact, done=True))

    assert "Te has vuelto a suscribir" in response.content.decode()
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.OPTED_IN
    assert contact.opted_out_of_all_at is None
    assert contact.consent_events.count() == 2


@pytest.mark.parametrize(
    ("language", "expected"), [("pt_BR", "Quer deixar de receber"), ("en", "Do you want"), ("de", "Do you want")]
)
def test_page_language_follows_the_contact(db, client, language, expected):
    contact = contact_create(phone="+34612345670", language=language)

    assert expected in client.get(_url(contact)).content.decode()


def test_client_address_behind_trusted_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 10.0.0.2")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(request) == "203.0.113.9"  # the spoofed left-most value is ignored


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_is_shared_by_two_workers(settings, monkeypatch):
    """Two threads stand for two workers: each has its own cache connection; only the database is shared."""
    monkeypatch.setattr("contacts.opt_out._minute", lambda: 1)  # no minute boundary inside the test
    settings.OPT_OUT_RATE_LIMIT_PER_MINUTE = 4
    settings.TRUSTED_PROXY_COUNT = 1
    contact = contact_create(phone="+34612345679")
    statuses: dict[str, list[int]] = {}

    def worker(name, proxy_address):
        client = Client(REMOTE_ADDR=proxy_address)
        statuses[name] = [client.get(_url(contact), HTTP_X_FORWARDED_FOR="198.51.100.7").status_code for _ in range(3)]

    for name, proxy in (("first", "10.0.0.1"), ("second", "10.0.0.2")):
        thread = threading.Thread(target=worker, args=(name, proxy))
        thread.start()
        thread.join()

    assert statuses == {"first": [200, 200, 200], "second": [200, 429, 429]}
    other = Client(REMOTE_ADDR="10.0.0.1").get(_url(contact), HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert other.status_code == 200
    assert Contact.objects.get(pk=contact.pk).marketing_consent == MarketingConsent.UNKNOWN


THREADS = 8
REQUESTS_PER_THREAD = 25


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers race on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_of_an_address_are_each_counted(rf, settings, monkeypatch):
    monkeypatch.setattr("contacts.opt_out._minute", lambda: 29_000_000)
    settings.OPT_OUT_RATE_LIMIT_PER_MINUTE = THREADS * REQUESTS_PER_THREAD
    settings.TRUSTED_PROXY_COUNT = 0

    def count_requests() -> int:
        try:
            return sum(rate_limit_exceeded(rf.get("/", REMOTE_ADDR="198.51.100.9")) for _ in range(REQUESTS_PER_THREAD))
        finally:
            connection.close()  # this thread's connection

    with ThreadPoolExecutor(THREADS) as pool:
        limited = sum(pool.map(lambda _: count_requests(), range(THREADS)))

    assert limited == 0
    # Exactly every request counted: the next one is the first past the limit.
    assert rate_limit_exceeded(rf.get("/", REMOTE_ADDR="198.51.100.9")) is True


def test_an_address_starting_a_minute_deletes_every_count_older_than_the_previous_minute(db, rf, monkeypatch):
    def request_at(minute: int, address: str) -> None:
        monkeypatch.setattr("contacts.opt_out._minute", lambda: minute)
        rate_limit_exceeded(rf.get("/", REMOTE_ADDR=address))

    for minute, address in ((100, "192.0.2.1"), (100, "192.0.2.2"), (101, "192.0.2.1"), (101, "192.0.2.1")):
        request_at(minute, address)
    request_at(102, "192.0.2.3")
    request_at(102, "192.0.2.3")

    assert sorted(OptOutPageRequestCount.objects.values_list("minute", "client_address", "count")) == [
        (101, "192.0.2.1", 2),
        (102, "192.0.2.3", 2),
    ]
