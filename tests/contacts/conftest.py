"""Fixtures for the contacts tests: uploaded files go to a temporary MEDIA_ROOT."""

import io

import pytest

from contacts.importing.services import contact_import_create, contact_import_stage
from contacts.models import ContactImport


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def stage():
    """Uploads bytes as a file and stages it (one process): returns the import in preview (or failed)."""

    def stage(content: bytes, name: str = "contacts.csv", *, processes: int = 1, **options) -> ContactImport:
        contact_import = contact_import_create(file=io.BytesIO(content), original_name=name, **options)
        contact_import_stage(contact_import=contact_import, processes=processes)
        return contact_import

    return stage
