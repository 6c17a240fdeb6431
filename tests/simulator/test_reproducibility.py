"""The same seed and the same request sequence give the same run."""

from .conftest import GraphClient, template_body

SHARES = {
    "fail_131026_share": 0.15,
    "fail_131049_share": 0.1,
    "fail_131050_share": 0.1,
    "reply_text_share": 0.1,
    "reply_stop_share": 0.1,
    "button_tap_share": 0.1,
    "read_share": 0.5,
    "paced_share": 0.2,
    "webhooks_enabled": False,
}


def _run(start_simulator, seed: int) -> list[dict]:
    client = GraphClient(start_simulator(seed=seed, **SHARES).base_url)
    for index in range(40):
        client.send(template_body(to=f"+1650555{index:04d}", opaque=f"delivery-{index}"))
    return [{key: value for key, value in entry.items() if key != "accepted_at"} for entry in client.messages()]


def test_same_seed_gives_the_same_log_and_outcomes(start_simulator):
    first = _run(start_simulator, seed=11)
    second = _run(start_simulator, seed=11)
    other = _run(start_simulator, seed=12)

    assert len(first) == 40
    assert first == second
    assert [entry["outcome"] for entry in first] != [entry["outcome"] for entry in other]
    assert len({entry["outcome"] for entry in first}) > 2


def test_reset_replays_the_same_run(start_simulator):
    client = GraphClient(start_simulator(seed=5, **SHARES).base_url)
    wamids = [client.send(template_body(to=f"+1650555{index:04d}")).json()["messages"][0]["id"] for index in range(5)]
    client.post("/_sim/reset")
    again = [client.send(template_body(to=f"+1650555{index:04d}")).json()["messages"][0]["id"] for index in range(5)]

    assert wamids == again
    assert len(set(wamids)) == 5
    assert [entry["index"] for entry in client.messages()] == [0, 1, 2, 3, 4]
