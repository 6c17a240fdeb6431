"""Phone number normalization to E.164, with `phonenumbers`."""

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """The text is not a valid phone number (for the default country, when it has no country code)."""

    def __init__(self, message: str, *, problem: str = "is not a valid phone number"):
        super().__init__(message)
        self.problem = problem


def phone_normalize(raw: str, *, default_country: str | None = None) -> str:
    """'+34 612-34-56-78', '0034 612345678' or '612 345 678' with default_country='ES' → '+34612345678'."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, (default_country or "").upper() or None)
    except phonenumbers.NumberParseException as err:
        hint = "" if text.startswith("+") or default_country else " (no country code, and no default country given)"
        problem = f"is not a phone number{hint}"
        raise InvalidPhoneNumber(f"{raw!r} {problem}", problem=problem) from err
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phones_normalize(raws: list[str], default_country: str | None = None) -> list[tuple[str, str]]:
    """Normalizes a batch: one (E.164, "") or ("", problem) per input. Picklable, for process pools."""
    results: dict[str, tuple[str, str]] = {}
    out = []
    for raw in raws:
        if raw not in results:
            if not raw:
                results[raw] = ("", "is empty: every row needs a phone number")
            else:
                try:
                    results[raw] = (phone_normalize(raw, default_country=default_country), "")
                except InvalidPhoneNumber as err:
                    results[raw] = ("", err.problem)
        out.append(results[raw])
    return out
