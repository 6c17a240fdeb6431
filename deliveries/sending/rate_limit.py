"""The shared token bucket of each sender phone number (design.md decision 5).

Every worker on every machine takes tokens from the same bucket: a row updated atomically in the database
(its clock, not the workers'), or a Redis hash updated by a Lua script when REDIS_URL is set. Tokens are
taken in small batches. The capacity is a tenth of a second's worth, so no one-second window carries more
than 1.1 times the rate. On 130429 the rate is halved (multiplicative decrease); it then grows back by a
twentieth of the number's limit per second without 130429 (gradual recovery).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from deliveries.models import SenderRateState
from wacampaigns.models import PhoneNumber

BURST_SECONDS = 0.1
MIN_RATE_SHARE = 0.05  # never below 5 % of the limit
RECOVERY_PER_SECOND = 0.05  # share of the limit regained per second after a 130429
DECREASE_FACTOR = 0.5
# One 130429 answer per cut: the burst of answers to the requests already in flight is one signal.
DECREASE_COOLDOWN_SECONDS = 1.0
# A sender's chunk is one take and one write of its attempts, each a write transaction (on SQLite, a wait for its
# one writer): at a high limit, chunks of 25 spent a third of a sender's time there. The capacity bounds the windows.
MAX_TOKENS_PER_TAKE = 100


@dataclass(frozen=True)
class Grant:
    """`granted` tokens now, or a wait in seconds before asking again."""

    granted: int
    wait_seconds: float
    rate: float


def target_rate(phone_number: PhoneNumber) -> float:
    return max(phone_number.throughput_limit * settings.SENDER_RATE_SHARE, 0.1)


def chunk_size(phone_number: PhoneNumber) -> int:
    """Tokens taken at once: at most the bucket's capacity (a tenth of a second), 1 to MAX_TOKENS_PER_TAKE."""
    return max(1, min(MAX_TOKENS_PER_TAKE, int(target_rate(phone_number) * BURST_SECONDS)))


def _refill(tokens: float, refilled_at: float, rate: float, throttled_at: float, limit: float, now: float):
    """The bucket brought to `now`: the rate recovers linearly since the last 130429, tokens refill."""
    rate = min(rate, limit)  # the number's limit was lowered
    if rate < limit:
        rate = min(
            limit,
            max(rate, limit * MIN_RATE_SHARE)
            + limit * RECOVERY_PER_SECOND * max(0.0, now - max(refilled_at, throttled_at)),
        )
    capacity = max(1.0, rate * BURST_SECONDS)
    elapsed = max(0.0, now - refilled_at)
    return min(capacity, tokens + elapsed * rate), rate


class DatabaseBucket:
    """The bucket in `SenderRateState`, one row per number, locked for the few microseconds of an update."""

    def __init__(self, phone_number: PhoneNumber):
        self.phone_number = phone_number
        self.limit = target_rate(phone_number)
        SenderRateState.objects.get_or_create(
            phone_number=phone_number, defaults={"tokens": 0, "refilled_at": 0, "rate": self.limit}
        )

    @staticmethod
    def _database_now(cursor) -> float:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT extract(epoch from clock_timestamp())")
            return float(cursor.fetchone()[0])
        return time.time()  # SQLite: one machine, one clock

    def take(self, wanted: int) -> Grant:
        with transaction.atomic(), connection.cursor() as cursor:
            state = SenderRateState.objects.select_for_update().get(phone_number=self.phone_number)
            now = self._database_now(cursor)
            if state.refilled_at == 0:
                state.refilled_at, state.rate = now, self.limit
            tokens, rate = _refill(state.tokens, state.refilled_at, state.rate, state.throttled_at, self.limit, now)
            granted = min(wanted, int(tokens))
            tokens -= granted
            SenderRateState.objects.filter(pk=state.pk).update(tokens=tokens, refilled_at=now, rate=rate)
        wait = 0.0 if granted else (min(wanted, max(1, int(rate * BURST_SECONDS))) - tokens) / rate
        return Grant(granted, wait, rate)

    def throttled(self) -> float:
        """Meta answered 130429: halve the rate (once per cooldown) and empty the bucket."""
        with transaction.atomic(), connection.cursor() as cursor:
            state = SenderRateState.objects.select_for_update().get(phone_number=self.phone_number)
            now = self._database_now(cursor)
            if now - state.throttled_at < DECREASE_COOLDOWN_SECONDS:
                return state.rate
            rate = max(self.limit * MIN_RATE_SHARE, (state.rate or self.limit) * DECREASE_FACTOR)
            SenderRateState.objects.filter(pk=state.pk).update(
                rate=rate, tokens=0, refilled_at=now, throttled_at=now, throttled_count=state.throttled_count + 1
            )
            return rate


# KEYS[1]: the bucket hash. ARGV: wanted, limit, burst seconds, min share, recovery per second.
_TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wanted, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local burst, min_share, recovery = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'refilled_at', 'rate', 'throttled_at')
local tokens, refilled_at = tonumber(s[1]) or 0, tonumber(s[2]) or now
local rate, throttled_at = math.min(tonumber(s[3]) or limit, limit), tonumber(s[4]) or 0
if rate < limit then
  local since = math.max(0, now - math.max(refilled_at, throttled_at))
  rate = math.min(limit, math.max(rate, limit * min_share) + limit * recovery * since)
end
local capacity = math.max(1, rate * burst)
tokens = math.min(capacity, tokens + math.max(0, now - refilled_at) * rate)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'refilled_at', tostring(now), 'rate', tostring(rate))
redis.call('EXPIRE', KEYS[1], 3600)
return {granted, tostring(tokens), tostring(rate)}
"""

# KEYS[1]: the bucket hash. ARGV: limit, min share, factor, cooldown.
_THROTTLED_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit, min_share, factor, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'rate', 'throttled_at')
local rate, throttled_at = tonumber(s[1]) or limit, tonumber(s[2]) or 0
if now - throttled_at < cooldown then return tostring(rate) end
rate = math.max(limit * min_share, rate * factor)
redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'tokens', '0', 'refilled_at', tostring(now),
  'throttled_at', tostring(now))
redis.call('HINCRBY', KEYS[1], 'throttled_count', 1)
return tostring(rate)
"""


class RedisBucket:
    """The same bucket in Redis (REDIS_URL): one Lua script per take, on the Redis server's clock."""

    _client = None

    def __init__(self, phone_number: PhoneNumber):
        import redis

        if RedisBucket._client is None:
            RedisBucket._client = redis.Redis.from_url(settings.REDIS_URL)
        self.redis = RedisBucket._client
        self.key = f"wacampaigns:rate:{phone_number.phone_number_id}"
        self.limit = target_rate(phone_number)
        self._take = self.redis.register_script(_TAKE_SCRIPT)
        self._throttled = self.redis.register_script(_THROTTLED_SCRIPT)

    def take(self, wanted: int) -> Grant:
        granted, tokens, rate = self._take(
            keys=[self.key], args=[wanted, self.limit, BURST_SECONDS, MIN_RATE_SHARE, RECOVERY_PER_SECOND]
        )
        granted, tokens, rate = int(granted), float(tokens), float(rate)
        wait = 0.0 if granted else (min(wanted, max(1, int(rate * BURST_SECONDS))) - tokens) / rate
        return Grant(granted, wait, rate)

    def throttled(self) -> float:
        return float(
            self._throttled(
                keys=[self.key], args=[self.limit, MIN_RATE_SHARE, DECREASE_FACTOR, DECREASE_COOLDOWN_SECONDS]
            )
        )


def bucket_for(phone_number: PhoneNumber) -> DatabaseBucket | RedisBucket:
    return RedisBucket(phone_number) if settings.REDIS_URL else DatabaseBucket(phone_number)


def tokens_acquire(bucket, wanted: int, *, deadline: float, sleep=time.sleep) -> int:
    """Blocks until at least one token is granted (up to `wanted`); 0 if the monotonic `deadline` passes first."""
    while True:
        grant = bucket.take(wanted)
        if grant.granted:
            return grant.granted
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return 0
        sleep(min(max(grant.wait_seconds, 0.002), remaining, 0.5))
