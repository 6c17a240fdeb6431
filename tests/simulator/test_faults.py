"""Faults on the API: 500s, resets, latency, and read timeouts after a send was accepted."""

import pytest
import requests

from .conftest import template_body, wait_until


def test_http_500_accepts_nothing(client):
    client.configure(http_500_share=1.0)

    response = client.send(template_body())

    assert response.status_code == 500
    assert response.json()["error"]["code"] == 2
    client.configure(http_500_share=0.0)
    assert client.messages() == []
    assert client.stats()["faults"]["http_500"] == 1


def test_raw_500_has_no_graph_body(client):
    client.configure(http_500_share=1.0, http_500_graph_body=False)

    response = client.send(template_body())

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/html"
    assert client.messages() == []


def test_connection_reset_accepts_nothing(client):
    client.configure(reset_share=1.0)

    with pytest.raises(requests.ConnectionError):
        client.send(template_body())

    assert client.messages() == []
    assert client.stats()["faults"]["reset"] == 1


def test_added_latency_delays_the_answer(client):
    client.configure(latency_ms=150)

    response = client.send(template_body())

    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.15


def test_read_timeout_after_accept_is_logged_and_still_delivered(client, receiver):
    client.configure(timeout_after_accept_share=1.0, timeout_hang_ms=3000)

    with pytest.raises(requests.ReadTimeout):
        client.session.post(f"{client.base_url}/v25.0/100000000000001/messages", json=template_body(), timeout=0.3)

    [entry] = client.messages()
    assert entry["answered"] is False
    statuses = wait_until(lambda: len(receiver.statuses()) == 3 and receiver.statuses())
    assert {status["id"] for status in statuses} == {entry["wamid"]}
    assert client.stats()["faults"]["timeout_after_accept"] == 1


def test_timeout_fault_can_close_without_answering(client):
    client.configure(timeout_after_accept_share=1.0, timeout_close_without_answer=True)

    with pytest.raises(requests.ConnectionError):
        client.send(template_body())

    assert [entry["answered"] for entry in client.messages()] == [False]
