"""Pure policies: what each answer means for its row, backoff with jitter, the token bucket's arithmetic."""

import random

import pytest

from deliveries.sending.rate_limit import BURST_SECONDS, _refill, chunk_size
from deliveries.sending.results import Verdict, backoff_seconds, outcome_for_result
from wacampaigns.models import PhoneNumber
from wacampaigns.whatsapp.client import SendResult
from wacampaigns.whatsapp.errors import AmbiguousSendError, NotSentError, classify_graph_error


def graph(code):
    return classify_graph_error({"code": code, "message": f"error {code}"})


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        (SendResult(wamid="wamid.1", message_status="accepted", wa_id=None, input=None, raw={}), Verdict.ACCEPTED),
        (AmbiguousSendError("read timeout"), Verdict.AMBIGUOUS),
        (NotSentError("refused"), Verdict.RETRY),
        (graph(131000), Verdict.RETRY),
        (graph(130429), Verdict.RETRY),
        (graph(131056), Verdict.RETRY),
        (graph(131049), Verdict.FAILED),
        (graph(131026), Verdict.FAILED),
        (graph(999999), Verdict.FAILED),
        (graph(132015), Verdict.TEMPLATE_STOPPED),
        (graph(190), Verdict.ACCOUNT_STOPPED),
        (graph(131042), Verdict.ACCOUNT_STOPPED),
    ],
)
def test_each_answer_has_one_meaning(answer, verdict, settings):
    settings.SENDER_MAX_ATTEMPTS = 5
    assert outcome_for_result(1, answer, attempt=1).verdict == verdict


def test_throttling_does_not_use_up_attempts_and_retries_run_out(settings):
    settings.SENDER_MAX_ATTEMPTS = 3
    assert outcome_for_result(1, graph(130429), attempt=9).counts_as_attempt is False
    assert outcome_for_result(1, graph(131000), attempt=2).verdict == Verdict.RETRY
    last = outcome_for_result(1, graph(131000), attempt=3)
    assert last.verdict == Verdict.FAILED
    assert last.error.code == 131000


def test_backoff_grows_exponentially_with_jitter_and_is_capped(settings):
    settings.SENDER_BACKOFF_BASE_SECONDS = 5
    settings.SENDER_BACKOFF_MAX_SECONDS = 100
    rng = random.Random(7)
    error = NotSentError("refused")
    first = [backoff_seconds(error, 1, rng=rng) for _ in range(50)]
    third = [backoff_seconds(error, 3, rng=rng) for _ in range(50)]
    assert all(2.5 <= d <= 5 for d in first)
    assert len(set(first)) > 1
    assert all(10 <= d <= 20 for d in third)
    assert all(50 <= backoff_seconds(error, 20, rng=rng) <= 100 for _ in range(20))
    # Meta's own suggestion for 131056 (4^X seconds) is followed.
    assert 8 <= backoff_seconds(graph(131056), 2, rng=rng) <= 16


def test_bucket_refills_at_the_rate_up_to_a_tenth_of_a_second():
    tokens, rate = _refill(0, 100.0, 80, 0, 80, 100.05)
    assert tokens == pytest.approx(4)
    assert rate == 80
    tokens, _ = _refill(0, 100.0, 80, 0, 80, 105.0)
    assert tokens == pytest.approx(80 * BURST_SECONDS)
    # The number's limit was lowered (1,000 → 80): the bucket follows at once.
    tokens, rate = _refill(0, 100.0, 970, 0, 80, 105.0)
    assert rate == 80
    assert tokens == pytest.approx(80 * BURST_SECONDS)


def test_tokens_are_taken_a_tenth_of_a_second_at_a_time_up_to_a_hundred(settings):
    settings.SENDER_RATE_SHARE = 0.97
    assert chunk_size(PhoneNumber(throughput_limit=5)) == 1
    assert chunk_size(PhoneNumber(throughput_limit=80)) == 7
    assert chunk_size(PhoneNumber(throughput_limit=1000)) == 97
    assert chunk_size(PhoneNumber(throughput_limit=10000)) == 100


def test_bucket_rate_recovers_gradually_after_throttling():
    _, rate = _refill(0, 100.0, 40, 100.0, 80, 101.0)
    assert rate == pytest.approx(44)  # +5 % of the limit per second
    _, rate = _refill(0, 100.0, 40, 100.0, 80, 200.0)
    assert rate == 80


def test_no_one_second_window_exceeds_the_bucket_bound():
    """Simulated takes at random moments: sends in any 1-s window stay under 1.1 times the rate."""
    rng = random.Random(3)
    tokens, refilled_at, rate, now, sends = 0.0, 0.0, 80.0, 0.0, []
    while now < 30:
        now += rng.uniform(0, 0.02)
        tokens, rate = _refill(tokens, refilled_at, rate, 0, 80, now)
        refilled_at = now
        granted = min(5, int(tokens))
        tokens -= granted
        sends += [now] * granted
    worst = max(sum(1 for t in sends if start <= t < start + 1) for start in sends)
    assert worst <= 88
    assert len(sends) / 30 >= 76
