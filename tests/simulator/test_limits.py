"""Throughput (130429) and pair rate (131056), checked against the documented token-bucket definition."""

import time

from .conftest import graph_error, template_body


def _recipient(index: int) -> str:
    return f"+1650555{index:04d}"


def test_throughput_allows_the_burst_then_refuses_130429_without_accepting(client):
    client.configure(throughput_per_second=0.001, throughput_burst=5)

    answers = [client.send(template_body(to=_recipient(index))) for index in range(6)]

    assert [answer.status_code for answer in answers] == [200] * 5 + [400]
    error = graph_error(answers[-1])
    assert error["code"] == 130429
    assert len(client.messages()) == 5
    assert client.stats()["rejected"] == {"130429": 1}


def test_throughput_bucket_refills_continuously_at_the_rate(client):
    rate, burst = 40.0, 5.0
    client.configure(throughput_per_second=rate, throughput_burst=burst)

    started = time.monotonic()
    codes = []
    while time.monotonic() - started < 0.5:
        codes.append(client.send(template_body(to=_recipient(len(codes)))).status_code)
    elapsed = time.monotonic() - started

    accepted = codes.count(200)
    assert accepted <= burst + rate * elapsed  # the definition's upper bound, from a full bucket
    assert accepted >= burst + rate * 0.5 * 0.6  # refilled continuously (loose: the machine is shared)
    assert codes.count(400) == len(codes) - accepted
    assert len(client.messages()) == accepted


def test_refused_sends_still_take_a_throughput_token(client):
    client.configure(throughput_per_second=0.001, throughput_burst=2)

    invalid = client.send(template_body(name="no_such_template"))
    valid = client.send(template_body())
    refused = client.send(template_body(to=_recipient(1)))

    assert graph_error(invalid)["code"] == 132001
    assert valid.status_code == 200
    assert graph_error(refused)["code"] == 130429


def test_pair_rate_limits_one_recipient_only(client):
    client.configure(pair_rate_per_second=0.001, pair_burst=2)

    same = [client.send(template_body(to="+16505551234")) for _ in range(3)]
    other = client.send(template_body(to="+16505559999"))

    assert [answer.status_code for answer in same] == [200, 200, 400]
    assert graph_error(same[-1])["code"] == 131056
    assert other.status_code == 200
    assert [entry["recipient"] for entry in client.messages()] == ["16505551234", "16505551234", "16505559999"]
