"""Everything the simulator remembers: config, seeded generators, templates, media, limits, windows, log."""

from __future__ import annotations

import base64
import random
import threading
from dataclasses import dataclass, field

from .config import SimulatorConfig
from .media_store import MediaStore
from .rate_limits import BucketFamily
from .template_catalog import TemplateCatalog


@dataclass
class SimulatorStats:
    """Counters served by `/_sim/stats` (webhook counters live in the dispatcher)."""

    requests: int = 0
    accepted: int = 0
    rejected: dict = field(default_factory=dict)
    other_errors: dict = field(default_factory=dict)
    faults: dict = field(default_factory=lambda: {"http_500": 0, "reset": 0, "timeout_after_accept": 0, "slow": 0})
    outcomes: dict = field(default_factory=dict)
    webhooks_dropped_by_fault: int = 0
    templates_submitted: int = 0
    media_uploaded: int = 0
    inbound_injected: int = 0


class SimulatorState:
    """Mutable simulator state; every change happens under `lock`."""

    def __init__(self, config: SimulatorConfig):
        self.lock = threading.Lock()
        self.config = config
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
        self.reset()

    def reset(self) -> None:
        """Back to the start-up state: seeded generators, templates, empty log, full buckets, closed windows."""
        self.message_rng = random.Random(self.seed)  # noqa: S311 - reproducible simulation, not security
        self.fault_rng = random.Random(self.seed ^ 0x5EED)  # noqa: S311 - reproducible simulation
        self.sequence = 0
        self.catalog = TemplateCatalog()
        self.media = MediaStore()
        self.log: list[dict] = []
        self.stats = SimulatorStats()
        self.windows: dict[tuple[str, str], float] = {}
        self.rebuild_limits()

    def rebuild_limits(self) -> None:
        """Fresh, full buckets for the current rates (see rate_limits.py)."""
        config = self.config
        self.throughput = BucketFamily(config.throughput_per_second, config.effective_throughput_burst)
        self.pair_rate = BucketFamily(config.pair_rate_per_second, config.pair_burst)

    def next_id(self, prefix: str, *parts: str) -> str:
        """A deterministic, unique id for this seed: wamids and trace ids."""
        self.sequence += 1
        raw = ".".join((*parts, str(self.seed), str(self.sequence))).encode()
        return prefix + base64.b64encode(raw).decode().rstrip("=")

    def display_phone_number(self, phone_number_id: str) -> str:
        """The digits of a simulated business number: 1555010 and the number's position, 4 digits."""
        try:
            position = self.config.phone_number_ids.index(phone_number_id) + 1
        except ValueError:
            position = 0
        return f"1555010{position:04d}"

    def window_is_open(self, phone_number_id: str, wa_id: str, now: float) -> bool:
        """Whether the user's last inbound message (already received) is under the window's length old."""
        opened = self.windows.get((phone_number_id, wa_id))
        return opened is not None and opened <= now < opened + self.config.service_window_seconds

    def open_window(self, phone_number_id: str, wa_id: str, at: float) -> None:
        """Record an inbound message at monotonic time `at` (the latest one wins)."""
        key = (phone_number_id, wa_id)
        self.windows[key] = max(at, self.windows.get(key, at))

    def count_rejection(self, code: int) -> None:
        """One more send refused with `code`."""
        key = str(code)
        self.stats.rejected[key] = self.stats.rejected.get(key, 0) + 1
