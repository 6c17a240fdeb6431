"""The simulator's two limiters: per-number throughput (130429) and per-pair rate (131056).

Throughput, exactly (the product's tests rely on this definition):

- One token bucket per business phone number id, with rate R = `throughput_per_second` (default 80) and
  capacity B = `throughput_burst` (default: R, one second's worth).
- The bucket starts full (B tokens) when the simulator starts, on `/_sim/reset`, and when R or B change
  through `/_sim/config`. It refills continuously: after t seconds it holds min(B, tokens + R * t).
- Every authenticated `POST /{phone_number_id}/messages` takes one token if at least one is available,
  whatever the later outcome (accepted, or refused by validation, pair rate or the service window).
  With fewer than one token the request is refused with 130429, takes nothing and is not accepted.
- Only outbound send requests count; inbound messages and other endpoints do not.
- So over any interval of length T starting from a full bucket, at most B + R * T sends are accepted.

Pair rate, exactly: one bucket per (phone number id, recipient wa_id) with rate `pair_rate_per_second`
(default 1/6, Meta's "1 message every 6 seconds") and capacity `pair_burst` (default 45, Meta's "bursts of up
to 45 in 6 s"), starting full and refilling continuously. Only a send that passed every other check takes a
pair token; without one it is refused with 131056 (its throughput token stays spent).
"""

from __future__ import annotations

import time


class TokenBucket:
    """A continuously refilled bucket; callers hold the simulator's lock."""

    __slots__ = ("capacity", "rate", "tokens", "updated_at")

    def __init__(self, rate: float, capacity: float, now: float | None = None):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated_at = time.monotonic() if now is None else now

    def try_take(self, now: float) -> bool:
        """Take one token if the bucket holds at least one; report whether it did."""
        elapsed = now - self.updated_at
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class BucketFamily:
    """Token buckets created on first use for each key, all with the same rate and capacity."""

    def __init__(self, rate: float, capacity: float):
        self.rate = rate
        self.capacity = capacity
        self._buckets: dict = {}

    def try_take(self, key, now: float) -> bool:
        """Take a token from the bucket of `key` (new buckets start full)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.capacity, now)
        return bucket.try_take(now)
