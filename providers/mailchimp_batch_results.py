"""Read the results archive of a Mailchimp ``/3.0/batches`` call, as hostile input.

A finished batch names a ``response_body_url``: a gzipped tar of JSON files, each an array of
``{"status_code": 200, "operation_id": "...", "response": "<the operation's JSON answer>"}``.
The archive is read in memory and never extracted to disk; its decompressed size is capped (a
small gzip can inflate to gigabytes); anything that is not that shape is a `BatchResultsError`.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from dataclasses import dataclass

__all__ = ["MAX_RESULTS_BYTES", "BatchResultsError", "OperationResult", "read_batch_results"]

#: The decompressed archive may be this large at most. 500 member answers (about 3 KB each)
#: take under 2 MB; this leaves room for big merge fields and refuses a gzip bomb.
MAX_RESULTS_BYTES = 32 * 1024 * 1024


class BatchResultsError(ValueError):
    """The archive is too large, not a gzipped tar, or its files are not result arrays."""


@dataclass(frozen=True, slots=True)
class OperationResult:
    """One operation's answer: its HTTP status and its JSON body, as text."""

    status_code: int
    response: str


def _gunzip(archive: bytes, limit: int) -> bytes:
    """The gzip member's content, refusing more than ``limit`` bytes of it."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        content = inflater.decompress(archive, limit + 1)
    except zlib.error:
        raise BatchResultsError("not a gzip file") from None
    if len(content) > limit:
        raise BatchResultsError(f"larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise BatchResultsError("the gzip file is cut short")
    return content


def _entries(data: bytes) -> list[tuple[str, OperationResult]]:
    try:
        entries = json.loads(data)
    except (ValueError, RecursionError):
        raise BatchResultsError("a file is not JSON") from None
    if not isinstance(entries, list):
        raise BatchResultsError("a file is not an array of results")
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise BatchResultsError("a file holds a result that is not an object")
        operation_id, status, response = (
            entry.get("operation_id"),
            entry.get("status_code"),
            entry.get("response"),
        )
        if not isinstance(operation_id, str) or type(status) is not int:
            raise BatchResultsError("a file holds a result without operation_id or status_code")
        if not isinstance(response, str | None):
            raise BatchResultsError("a file holds a response that is not text")
        found.append((operation_id, OperationResult(status, response or "")))
    return found


def read_batch_results(
    archive: bytes, *, limit: int = MAX_RESULTS_BYTES
) -> dict[str, OperationResult]:
    """The results by operation id, from every ``.json`` file of the archive."""
    content = _gunzip(archive, limit)
    results: dict[str, OperationResult] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith(".json"):
                    continue
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                results.update(_entries(extracted.read()))
    except (tarfile.TarError, OSError, EOFError):
        raise BatchResultsError("not a tar archive") from None
    return results
