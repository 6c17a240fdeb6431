"""Everything the simulator remembers: config, seeded generators, templates, media, limits, windows, log."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
from dataclasses import dataclass, field

from .config import SimulatorConfig
from .media_store import MediaStore
from .rate_limits import BucketFamily
from .template_catalog import TemplateCatalog

# Country prefixes of business-scoped user ids ("US.1349…"), by the longest matching calling code.
_REGION_OF_CALLING_CODE = {
    "1": "US",
    "7": "RU",
    "20": "EG",
    "27": "ZA",
    "31": "NL",
    "33": "FR",
    "34": "ES",
    "39": "IT",
    "44": "GB",
    "49": "DE",
    "52": "MX",
    "54": "AR",
    "55": "BR",
    "57": "CO",
    "62": "ID",
    "91": "IN",
    "234": "NG",
    "351": "PT",
}


# Fields of an accepted-message log entry (a tuple in this order), as `/_sim/messages` shows them. An entry
# holds only strings, numbers and bytes, so the cyclic garbage collector stops tracking it: `components` is
# kept as the raw request body of a template send and decoded when the log is read (a log of 100k sends
# holding lists and dicts made every full collection walk some 600k containers, ~60 ms each).
LOG_FIELDS = (
    "index",
    "wamid",
    "phone_number_id",
    "to",
    "recipient",
    "type",
    "template",
    "language",
    "category",
    "components",
    "text",
    "biz_opaque_callback_data",
    "message_status",
    "accepted_at",
    "answered",
    "outcome",
)


def log_entry_object(entry: tuple) -> dict:
    """A log entry as a JSON object, with `parameters`: the body parameters' values in order."""
    item = dict(zip(LOG_FIELDS, entry, strict=True))
    raw_body = item["components"]
    item["components"] = json.loads(raw_body)["template"].get("components", []) if raw_body is not None else None
    values = []
    for component in item["components"] or ():
        if component.get("type") != "body":
            continue
        for parameter in component.get("parameters", ()):
            kind = parameter.get("type")
            value = parameter.get(kind)
            if isinstance(value, dict):
                value = value.get("fallback_value")  # currency and date_time parameters
            if parameter.get("parameter_name"):
                values.append({"name": parameter["parameter_name"], "value": value})
            else:
                values.append(value)
    item["parameters"] = values
    return item


@dataclass
class UserIdentity:
    """How a user appears in webhooks: phone (None when withheld), business-scoped id and username."""

    wa_id: str | None
    user_id: str | None
    username: str | None


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
    templates_paused: int = 0
    media_uploaded: int = 0
    inbound_injected: int = 0


class SimulatorState:
    """Mutable simulator state; every change happens under `lock`."""

    def __init__(self, config: SimulatorConfig):
        self.lock = threading.Lock()
        self.config = config
        self._display_numbers: dict[str, str] = {}
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
        self.reset()

    def reset(self) -> None:
        """Back to the start-up state: seeded generators, templates, empty log, full buckets, closed windows."""
        self.message_rng = random.Random(self.seed)  # noqa: S311 - reproducible simulation, not security
        self.fault_rng = random.Random(self.seed ^ 0x5EED)  # noqa: S311 - reproducible simulation
        self.sequence = 0
        self.catalog = TemplateCatalog()
        self.media = MediaStore()
        self.log: list[tuple] = []  # accepted messages, see LOG_FIELDS
        self.stats = SimulatorStats()
        self.windows: dict[tuple[str, str], float] = {}
        self._user_ids: dict[str, str] = {}
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
        digits = self._display_numbers.get(phone_number_id)
        if digits is None:
            try:
                position = self.config.phone_number_ids.index(phone_number_id) + 1
            except ValueError:
                position = 0
            digits = self._display_numbers[phone_number_id] = f"1555010{position:04d}"
        return digits

    def business_scoped_user_id(self, wa_id: str) -> str:
        """The user's stable business-scoped id for this seed: region, a dot and 20 digits."""
        user_id = self._user_ids.get(wa_id)
        if user_id is None:
            region = next(
                (_REGION_OF_CALLING_CODE[wa_id[:n]] for n in (3, 2, 1) if wa_id[:n] in _REGION_OF_CALLING_CODE), "US"
            )
            digest = hashlib.sha256(f"{self.seed}:{wa_id}".encode()).digest()
            user_id = self._user_ids[wa_id] = f"{region}.{int.from_bytes(digest[:8], 'big') % 10**20:020d}"
        return user_id

    def user_identity(self, wa_id: str) -> UserIdentity:
        """The user behind phone digits `wa_id` as webhooks show them under the current config."""
        config = self.config
        phoneless = config.phoneless_users
        return UserIdentity(
            wa_id=None if phoneless else wa_id,
            user_id=self.business_scoped_user_id(wa_id) if config.user_ids_enabled or phoneless else None,
            username=f"customer_{wa_id[-4:]}" if config.usernames_enabled or phoneless else None,
        )

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
