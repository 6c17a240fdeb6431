"""A model field that keeps secrets (access tokens, app secrets) encrypted at rest with Fernet."""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class SecretDecryptionError(ImproperlyConfigured):
    """A stored secret cannot be decrypted with any key in SECRETS_ENCRYPTION_KEYS."""


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        # Development mode only (settings.py requires the keys in production): derive a stable key.
        keys = (base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()).decode(),)
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as err:
        raise ImproperlyConfigured(
            "SECRETS_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes each); "
            'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from err


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.SECRETS_ENCRYPTION_KEYS), settings.SECRET_KEY)


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; Python code sees the plain value."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return fernet().decrypt(value.encode()).decode()
        except InvalidToken as err:
            raise SecretDecryptionError(
                f"A stored {self.model.__name__}.{self.name} cannot be decrypted: "
                "SECRETS_ENCRYPTION_KEYS does not hold the key it was saved with."
            ) from err

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return fernet().encrypt(value.encode()).decode()
