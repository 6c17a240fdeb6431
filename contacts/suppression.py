"""The erasure suppression list: keyed hashes of erased numbers, and the check every import and send makes."""

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings
from django.db import connection

from contacts.models import ErasedNumber


def phone_number_hash(phone: str) -> str:
    """HMAC-SHA256 of an E.164 number with `settings.ERASURE_HASH_KEY`, as hex (the suppression-list key).

    Keyed, so that the list cannot be reversed by hashing every possible number.
    """
    return hmac.new(settings.ERASURE_HASH_KEY.encode(), phone.encode(), hashlib.sha256).hexdigest()


def phones_suppressed(phones: Iterable[str]) -> set[str]:
    """The E.164 numbers among `phones` that are on the suppression list (one query per call)."""
    by_hash = {phone_number_hash(phone): phone for phone in phones if phone}
    if not by_hash:
        return set()
    found = ErasedNumber.objects.filter(number_hash__in=list(by_hash)).values_list("number_hash", flat=True)
    return {by_hash[number_hash] for number_hash in found}


def phone_is_suppressed(phone: str) -> bool:
    """True when the E.164 number was erased: it must never be imported or messaged again."""
    if not phone:
        return False
    # Plain SQL: every API send asks, and building the ORM's query cost more than running it.
    table = connection.ops.quote_name(ErasedNumber._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE number_hash = %s LIMIT 1", [phone_number_hash(phone)])  # noqa: S608
        return cursor.fetchone() is not None
