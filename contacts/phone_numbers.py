"""Phone number normalization to E.164, with `phonenumbers`."""

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """The text is not a valid phone number (for the default country, when it has no country code)."""


def phone_normalize(raw: str, *, default_country: str | None = None) -> str:
    """'+34 612-34-56-78', '0034 612345678' or '612 345 678' with default_country='ES' → '+34612345678'."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, (default_country or "").upper() or None)
    except phonenumbers.NumberParseException as err:
        hint = "" if text.startswith("+") or default_country else " (no country code, and no default country given)"
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number{hint}") from err
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
