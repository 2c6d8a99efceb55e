"""Files sent as a request body (CSV, or a JSON array): the media type check and a spool.

The body is spooled to a temporary file (in memory up to a few MiB, then on disk), so a large
upload never sits in memory whole; the caller parses it from ``Upload.file`` in a thread.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any

from litestar import Request

from distribution.errors import FieldError, InvalidInputError

__all__ = ["Upload", "spooled_upload"]

MEDIA_TYPES = ("text/csv", "application/json")
IN_MEMORY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A spooled request body, positioned at its start, and whether it is JSON (else CSV)."""

    file: IO[bytes]
    is_json: bool


@asynccontextmanager
async def spooled_upload(request: Request[Any, Any, Any]) -> AsyncIterator[Upload]:
    """Check the ``Content-Type`` (before reading anything), then spool the body.

    Raises:
        InvalidInputError: the body is neither ``text/csv`` nor ``application/json``.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise InvalidInputError(
            [FieldError("Content-Type", "must be text/csv or application/json")]
        )
    with tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        yield Upload(file=spool, is_json=media_type == "application/json")
