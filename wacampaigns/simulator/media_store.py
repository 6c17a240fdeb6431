"""Uploaded media (`POST /{phone_number_id}/media`) and Resumable Upload sessions (`/{app_id}/uploads`)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from .graph_errors import GraphError

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PART_NAME = re.compile(rb'name="([^"]*)"', re.IGNORECASE)


@dataclass
class UploadSession:
    """A Resumable Upload session: the announced length and type, and the bytes received so far."""

    file_length: int
    file_type: str
    received: int = 0


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str]]:
    """Form fields of a multipart/form-data body: name → (bytes, the part's content type)."""
    match = _BOUNDARY.search(content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise GraphError(100, "The request must be multipart/form-data.")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, tuple[bytes, str]] = {}
    for raw_part in body.split(delimiter)[1:]:
        if raw_part.startswith(b"--"):
            break
        head, separator, content = raw_part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        name = _PART_NAME.search(head)
        part_type = "text/plain"
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-type:"):
                part_type = line.split(b":", 1)[1].strip().decode("latin-1")
        if name:
            fields[name.group(1).decode()] = (content.removesuffix(b"\r\n"), part_type)
    return fields


class MediaStore:
    """Media ids and upload sessions; callers hold the simulator's lock."""

    def __init__(self):
        self.media: dict[str, tuple[str, int]] = {}
        self.sessions: dict[str, UploadSession] = {}
        self._next = 700000000000001

    def _new_id(self) -> str:
        value = str(self._next)
        self._next += 1
        return value

    def upload(self, content_type: str, body: bytes) -> dict:
        """Store a multipart upload (needs `messaging_product=whatsapp` and `file`) and return its id."""
        fields = parse_multipart(content_type, body)
        if fields.get("messaging_product", (b"",))[0].strip() != b"whatsapp":
            raise GraphError(100, "The parameter messaging_product is required.")
        if "file" not in fields:
            raise GraphError(100, "The parameter file is required.")
        data, part_type = fields["file"]
        declared = fields.get("type", (part_type.encode(),))[0].decode("latin-1").strip() or part_type
        media_id = self._new_id()
        self.media[media_id] = (declared, len(data))
        return {"id": media_id}

    def knows(self, media_id: str) -> bool:
        """Whether `media_id` was uploaded here (sends naming another id fail later with 131053)."""
        return media_id in self.media

    def open_session(self, file_length: str | None, file_type: str | None) -> dict:
        """Start a Resumable Upload session: `{"id": "upload:<id>"}`."""
        if not file_length or not file_length.isdigit() or int(file_length) <= 0:
            raise GraphError(100, "The parameter file_length is required.")
        if not file_type:
            raise GraphError(100, "The parameter file_type is required.")
        session_id = "upload:" + base64.urlsafe_b64encode(self._new_id().encode()).decode().rstrip("=")
        self.sessions[session_id] = UploadSession(int(file_length), file_type)
        return {"id": session_id}

    def append(self, session_id: str, file_offset: str | None, data: bytes) -> dict:
        """Append bytes at `file_offset`; the answer carries the handle `h` for template submissions."""
        session = self.sessions.get(session_id)
        if session is None:
            raise GraphError(100, f"Upload session {session_id} does not exist.")
        if file_offset is None or not file_offset.isdigit() or int(file_offset) != session.received:
            raise GraphError(100, f"file_offset must be {session.received}.")
        if session.received + len(data) > session.file_length:
            raise GraphError(100, "More bytes than file_length were sent.")
        session.received += len(data)
        handle = base64.b64encode(f"{session.file_type}:{session_id}".encode()).decode()
        return {"h": f"4::{handle}:simulated"}

    def status(self, session_id: str) -> dict:
        """`GET upload:<id>`: how many bytes were received."""
        session = self.sessions.get(session_id)
        if session is None:
            raise GraphError(100, f"Upload session {session_id} does not exist.")
        return {"id": session_id, "file_offset": session.received}
