"""The event-loop HTTP server and webhook connections over raw sockets: pipelining, chunks, delays, answers."""

import json
import socket
import threading

import pytest

from wacampaigns.simulator.callback_connection import CallbackError, answer_status

from .conftest import TOKEN, template_body, wait_until

SEND_PATH = "/v25.0/100000000000001/messages"


def _send_request(body: dict, extra_headers: str = "") -> bytes:
    raw = json.dumps(body).encode()
    head = (
        f"POST {SEND_PATH} HTTP/1.1\r\nHost: simulator\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\n{extra_headers}Content-Length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


def _read_answers(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read `count` Content-Length answers off the connection: (status, body) each."""
    reader = sock.makefile("rb")
    answers = []
    while len(answers) < count:
        status = int(reader.readline().split()[1])
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        answers.append((status, reader.read(length)))
    return answers


def _connect(simulator) -> socket.socket:
    return socket.create_connection(("127.0.0.1", simulator.port), timeout=5)


def test_pipelined_requests_are_answered_in_order(simulator, client):
    recipients = ["+16505550001", "+16505550002", "+16505550003"]
    with _connect(simulator) as sock:
        sock.sendall(b"".join(_send_request(template_body(to=to)) for to in recipients))
        answers = _read_answers(sock, 3)

    assert [status for status, _ in answers] == [200, 200, 200]
    assert [json.loads(body)["contacts"][0]["input"] for _, body in answers] == recipients
    assert [entry["to"] for entry in client.messages()] == recipients


def test_request_arriving_byte_by_byte_is_answered_once(simulator, client):
    with _connect(simulator) as sock:
        for byte in _send_request(template_body()):
            sock.send(bytes([byte]))
        [(status, _)] = _read_answers(sock, 1)

    assert status == 200
    assert len(client.messages()) == 1


def test_chunked_request_body_is_accepted(simulator, client):
    raw = json.dumps(template_body()).encode()
    head = f"POST {SEND_PATH} HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (raw[:10], raw[10:]))
    with _connect(simulator) as sock:
        sock.sendall(head.encode() + chunks + b"0\r\n\r\n")
        [(status, _)] = _read_answers(sock, 1)

    assert status == 200
    assert [entry["template"] for entry in client.messages()] == ["spring_sale"]


def test_expect_100_continue_gets_the_interim_answer_before_the_body(simulator, client):
    request = _send_request(template_body(), "Expect: 100-continue\r\n")
    head, _, body = request.partition(b"\r\n\r\n")
    with _connect(simulator) as sock:
        sock.sendall(head + b"\r\n\r\n")
        interim = sock.recv(64)
        sock.sendall(body)
        [(status, _)] = _read_answers(sock, 1)

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert status == 200
    assert len(client.messages()) == 1


def test_malformed_request_line_is_a_400_and_the_connection_closes(simulator):
    with _connect(simulator) as sock:
        sock.sendall(b"NOT HTTP\r\n\r\n")
        [(status, body)] = _read_answers(sock, 1)
        rest = sock.recv(64)

    assert status == 400
    assert body == b"malformed request line"
    assert rest == b""


def test_a_delayed_answer_holds_only_its_own_connection(simulator, client):
    client.configure(latency_ms=2000)
    with _connect(simulator) as delayed, _connect(simulator) as other:
        delayed.sendall(_send_request(template_body()))
        other.sendall(b"GET /_sim/stats HTTP/1.1\r\n\r\n")
        [(stats_status, stats_body)] = _read_answers(other, 1)
        # /_sim endpoints are never delayed: answered while the send still waits, before it was accepted.
        assert stats_status == 200
        assert json.loads(stats_body)["accepted"] == 0
        [(status, _)] = _read_answers(delayed, 1)

    assert status == 200
    assert client.stats()["accepted"] == 1


def test_webhooks_reach_an_app_that_closes_every_connection(start_simulator):
    bodies = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                reader = connection.makefile("rb")
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                bodies.append(reader.read(length))
                connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")

    threading.Thread(target=serve, daemon=True).start()
    simulator = start_simulator(callback_url=f"http://127.0.0.1:{listener.getsockname()[1]}/webhooks/")
    try:
        with _connect(simulator) as sock:
            sock.sendall(_send_request(template_body()) + _send_request(template_body(to="+16505550009")))
            _read_answers(sock, 2)
        stats = wait_until(lambda: simulator.dispatcher.pending() == 0 and simulator.dispatcher.counters)
    finally:
        listener.close()

    assert stats.items_delivered == 6
    assert stats.failed_attempts == 0
    statuses = [status["status"] for body in bodies for status in _statuses(body)]
    assert sorted(statuses) == ["delivered", "delivered", "read", "read", "sent", "sent"]


def _statuses(body: bytes) -> list[dict]:
    return json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"]


@pytest.mark.parametrize(
    ("answer", "closed", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False, (200, True)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok", False, None),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno", False, (500, False)),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False, (200, True)),
        (b"HTTP/1.1 100 Continue\r\n\r\n", False, None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", False, (200, True)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", False, None),
        (b"HTTP/1.0 200 OK\r\n\r\nbody until close", False, None),
        (b"HTTP/1.0 200 OK\r\n\r\nbody until close", True, (200, False)),
        (b"HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False, (204, True)),
        (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", False, (200, True)),
        (b"HTTP/1.1 200 OK\r\nContent-Le", False, None),
    ],
)
def test_webhook_answer_parsing(answer, closed, expected):
    assert answer_status(answer, closed=closed) == expected


@pytest.mark.parametrize(
    ("answer", "closed"),
    [
        (b"NOPE\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok", True),
        (b"HTTP/1.1 200 OK\r\nContent-Le", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False),
    ],
)
def test_webhook_answer_that_is_not_http_or_cut_short_is_an_error(answer, closed):
    with pytest.raises(CallbackError):
        answer_status(answer, closed=closed)
