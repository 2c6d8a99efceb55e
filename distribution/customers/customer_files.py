"""CSV and JSON import and CSV export of customers.

Columns: ``source_id, name, email, phone, description, locale, timezone, birthdate``, the address
parts as ``address.city`` (or ``address_city``) and so on, and ``metadata.<key>`` for metadata. The
read-only columns an export writes (``id``, ``created_at``, ``updated_at``) are ignored, so an
export can be imported again. An empty cell leaves the field as it is. Metadata cells that are
plainly numbers or ``true``/``false`` become numbers and booleans (``"02134"`` stays text, since
its canonical number would lose the zero).

An export starts with a ``'`` every cell that a spreadsheet would read as a formula (one
beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, as OWASP advises against
CSV injection), and every cell that already begins with ``'`` followed by one of those or by
another ``'``. An import takes that one ``'`` off again, so export and import lose nothing.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import multiprocessing
import multiprocessing.forkserver
import os
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

import msgspec
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from distribution.customers.customer_input import ADDRESS_FIELDS, ValidCustomer
from distribution.customers.store import iter_customers, upsert_customers, validate_rows
from distribution.errors import FieldError, InvalidInputError, PayloadTooLargeError
from distribution.models import Customer
from distribution.storage.db import Database, larger_page_cache
from distribution.storage.json_bounds import ItemRefused, iter_array_items

__all__ = [
    "IMPORT_LIMIT",
    "ROW_MAX_BYTES",
    "ImportReport",
    "ReadRows",
    "RowError",
    "check_rows",
    "export_csv",
    "import_rows",
    "import_running",
    "new_import_pool",
    "read_csv_rows",
    "read_json_rows",
]

IMPORT_LIMIT = 100_000
# One customer of a JSON import: far above what its fields allow, so only junk is refused, and
# small enough that reading the file holds one row at a time, however large the file.
ROW_MAX_BYTES = 64 * 1024
# Rows a transaction: few enough that other writers wait a short while between two of them.
CHUNK = 5_000
# The pages a chunk touches in the customer table's indexes (email, phone, source id: each
# row at a random place), megabytes each at 100,000 customers: SQLite's usual 2 MB cache made
# a chunk read and spill them many times (a tenth of the writing time, in process).
CHUNK_CACHE_MB = 64
# One worker fewer than cores: the request thread checks chunks too, when it has none to write.
WORKERS = max(1, (os.cpu_count() or 2) - 1)
# Below this, starting worker processes costs more than checking the rows here. With two cores
# never: the one worker saved the request thread less than moving rows to it and their checks
# back cost (a third more CPU a row), and imports ran faster without it (docs/benchmarks.md).
PARALLEL_FROM = 10_000 if WORKERS > 1 else IMPORT_LIMIT + 1
# Chunks handed to workers ahead: enough that none waits for its next, few enough to leave
# the rest to the request thread when it has nothing to write.
IN_FLIGHT = 2 * WORKERS
# What importing a chunk gives back: per row its number, whether it was created, its errors.
Outcomes = list[tuple[int, bool, tuple[FieldError, ...]]]
_PLAIN = ("source_id", "name", "email", "phone", "description", "locale", "timezone", "birthdate")
_IGNORED = ("id", "object", "created_at", "updated_at")
# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What follows the quote an export adds: a formula start, or a quote the cell began with.
_AFTER_ADDED_QUOTE = (*_FORMULA_STARTS, "'")
_EXPORT_COLUMNS = ["id", *_PLAIN[:5], *(f"address.{p}" for p in ADDRESS_FIELDS), *_PLAIN[5:]]


@dataclass(frozen=True)
class RowError:
    """Why one row of an import was refused; ``row`` counts the header as row 1."""

    row: int
    field: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: every row is either counted as created/updated or listed in errors."""

    total_rows: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)


def _column_target(header: str) -> tuple[str, str] | None:
    name = header.strip()
    lowered = name.lower()
    if lowered in _PLAIN:
        return ("field", lowered)
    for prefix in ("address.", "address_"):
        if lowered.startswith(prefix) and lowered[len(prefix) :] in ADDRESS_FIELDS:
            return ("address", lowered[len(prefix) :])
    if lowered.startswith("metadata.") and len(name) > len("metadata."):
        return ("metadata", name[len("metadata.") :])
    if lowered in _IGNORED:
        return ("ignored", lowered)
    return None


# What str() of an int or a finite float can look like: only such cells can be numbers.
_NUMBER_LIKE = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?")


# Metadata columns repeat a few values (tiers, counts, dates) over thousands of rows, and the
# number check is a third of reading a row; the value depends on the cell's text alone.
@lru_cache(maxsize=4096)
def _metadata_value(cell: str) -> Any:
    if cell in ("true", "false"):
        return cell == "true"
    if _NUMBER_LIKE.fullmatch(cell):
        for kind in (int, float):
            try:
                number = kind(cell)
            except ValueError:
                continue
            if str(number) == cell:
                return number
    return cell


def _positions(targets: list[tuple[str, str] | None], kind: str) -> list[tuple[int, str]]:
    return [(i, t[1]) for i, t in enumerate(targets) if t is not None and t[0] == kind]


def _imported(cell: str) -> str:
    """A cell without the quote an export put before it (see the module's docstring)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in _AFTER_ADDED_QUOTE else cell


def _exported(cell: str) -> str:
    """A cell as an export writes it: what a spreadsheet would run as a formula gets a quote."""
    if cell[:1] in _FORMULA_STARTS or (cell[:1] == "'" and cell[1:2] in _AFTER_ADDED_QUOTE):
        return "'" + cell
    return cell


class _Lines:
    """The lines of a text stream, keeping the last one read (to explain a CSV error)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.last = ""

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.last = line
            yield line


# One CSV cell and the comma after it: quoted (quotes doubled inside) or plain.
_CSV_CELL = re.compile(r'("(?:[^"]|"")*"|[^,"\r\n]*)(?:,|\r?\n?\Z)')


def _csv_row_error(number: int, error: csv.Error, line: str, header: list[str]) -> RowError:
    """The error of a row the csv module could not read, naming the column of a too-long cell."""
    limit = csv.field_size_limit()
    if "field limit" not in str(error):
        return RowError(number, "row", f"is not valid CSV ({error})")
    cells = [m[1] for m in _CSV_CELL.finditer(line)]
    column = next((i for i, cell in enumerate(cells) if len(cell) > limit), None)
    name = header[column] if column is not None and column < len(header) else "row"
    return RowError(number, name, f"is longer than {limit:,} characters")


def read_csv_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any]] | RowError]:
    """Rows of a CSV file as customer input dicts, numbered as a spreadsheet shows them.

    A row the csv module cannot read (a cell longer than its limit) comes out as a RowError,
    and the rows after it are read on.
    """
    lines = _Lines(stream)
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise InvalidInputError([FieldError("file", "is empty: expected a header row")])
    targets = [_column_target(h) for h in header]
    unknown = [h for h, t in zip(header, targets, strict=True) if t is None]
    if unknown:
        raise InvalidInputError(
            [FieldError(f"columns.{h}", "is not a customer field") for h in unknown]
        )
    fields, address, metadata = (_positions(targets, k) for k in ("field", "address", "metadata"))
    number = 1
    while True:
        try:
            # Comprehensions over precomputed positions: this loop runs for every row of 100,000.
            for cells in reader:
                number += 1
                if not any(cells):
                    continue
                if len(cells) < len(header):
                    cells += [""] * (len(header) - len(cells))
                row: dict[str, Any] = {name: _imported(cells[i]) for i, name in fields if cells[i]}
                parts = {name: _imported(cells[i]) for i, name in address if cells[i]}
                if parts:
                    row["address"] = parts
                values = {
                    name: _metadata_value(_imported(cells[i])) for i, name in metadata if cells[i]
                }
                if values:
                    row["metadata"] = values
                yield number, row
            return
        except csv.Error as error:
            number += 1
            yield _csv_row_error(number, error, lines.last, header)


def read_json_rows(file: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]] | RowError]:
    """Rows of a JSON array of customer objects, numbered from 1, read one at a time.

    A row over ROW_MAX_BYTES, nested too deeply or not valid JSON comes out as a RowError.
    """
    for number, item in enumerate(iter_array_items(file, ROW_MAX_BYTES), start=1):
        if isinstance(item, ItemRefused):
            yield RowError(number, "row", item.reason)
            continue
        try:
            value = msgspec.json.decode(item)
        except msgspec.DecodeError as error:
            yield RowError(number, "row", f"is not valid JSON ({error})")
            continue
        yield number, value if isinstance(value, dict) else {"__not_an_object__": value}


@dataclass
class ReadRows:
    """The rows of a file to import, and the rows refused while reading it."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    refused: list[RowError] = field(default_factory=list)


def count_limit(rows: Iterable[tuple[int, dict[str, Any]] | RowError]) -> ReadRows:
    """All rows, refusing more than IMPORT_LIMIT before anything is written."""
    read = ReadRows()
    for row in rows:
        if isinstance(row, RowError):
            read.refused.append(row)
        else:
            read.rows.append(row)
        if len(read.rows) + len(read.refused) > IMPORT_LIMIT:
            raise PayloadTooLargeError(f"an import takes at most {IMPORT_LIMIT:,} rows")
    return read


_running_lock = threading.Lock()
_running = [0]


def import_running() -> bool:
    """Whether this process is importing a file now.

    The segment event runner waits for the end of an import: the deliveries of the events its
    rows make are prepared after it, rather than taking the CPU (and the GIL) from it.
    """
    return _running[0] > 0


@contextmanager
def _importing() -> Iterator[None]:
    with _running_lock:
        _running[0] += 1
    try:
        yield
    finally:
        with _running_lock:
            _running[0] -= 1


def import_rows(
    database: Database,
    project_id: str,
    rows: Sequence[tuple[int, dict[str, Any]]],
    *,
    default_region: str,
    executor: Executor | None = None,
    parallel_from: int = PARALLEL_FROM,
    chunk_rows: int = CHUNK,
    refused: Sequence[RowError] = (),
) -> ImportReport:
    """Upsert every valid row in chunks, each chunk its own transaction.

    With an ``executor`` (a process pool) large imports check chunks in parallel, ahead of
    this thread, which writes every chunk: checking an email and a phone costs more than
    writing the row, and one writer keeps its pages cached from chunk to chunk, where writers
    in several processes made SQLite drop its cache at each other's commits (a third more CPU
    a row). Rows are put in chunks by ``source_id``, so every row of one customer lands in the
    same chunk, in file order: the later row still wins. ``refused`` are the rows refused while
    reading the file: they are counted as failed and reported with the rest.
    """
    report = ImportReport(total_rows=len(rows) + len(refused), failed=len(refused))
    report.errors.extend(refused)
    with _importing(), _collector_skips_existing_objects():
        if executor is None or len(rows) < parallel_from:
            for start in range(0, len(rows), chunk_rows):
                chunk = rows[start : start + chunk_rows]
                _count(report, _upsert_chunk(database, project_id, chunk, default_region))
        else:
            chunks = _by_customer(rows, chunk_rows)
            for chunk, checked in _checked_ahead(chunks, default_region, executor):
                _count(report, _upsert_chunk(database, project_id, chunk, default_region, checked))
    report.errors.sort(key=lambda e: e.row)
    return report


@contextmanager
def _collector_skips_existing_objects() -> Iterator[None]:
    """Full collections skip the objects that exist now (the parsed rows, every module's).

    They outlive the import, yet the cycle collector would walk all of them again and again
    while chunks run: about a sixth of a chunk's CPU. Garbage made during the import is
    collected as usual, and what existed before becomes collectable again afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _by_customer(
    rows: Sequence[tuple[int, dict[str, Any]]], chunk_rows: int
) -> list[list[tuple[int, dict[str, Any]]]]:
    """Rows in chunks of about chunk_rows, all rows of one ``source_id`` in one chunk, in order."""
    buckets: list[list[tuple[int, dict[str, Any]]]] = [
        [] for _ in range(-(-len(rows) // chunk_rows))
    ]
    for position, row in enumerate(rows):
        source_id = row[1].get("source_id")
        # Stripped as validation strips it: " a" and "a" are the same customer.
        key = source_id.strip() if isinstance(source_id, str) else ""
        buckets[(hash(key) if key else position) % len(buckets)].append(row)
    return [bucket for bucket in buckets if bucket]


Checked = list[ValidCustomer | tuple[FieldError, ...]]


def _checked_ahead(
    chunks: list[list[tuple[int, dict[str, Any]]]], default_region: str, executor: Executor
) -> Iterator[tuple[list[tuple[int, dict[str, Any]]], Checked]]:
    """Each chunk with its checked rows, as soon as they are checked, in no particular order.

    Workers check chunks from the front, a couple each at a time so none waits for its next,
    while the caller writes the chunks already checked. When none is, this thread checks one
    from the back itself: so the import starts at once instead of waiting for worker processes
    to start, and no core stays idle while they run.
    """
    waiting = deque(chunks)
    running: dict[Future[Checked], list[tuple[int, dict[str, Any]]]] = {}
    while waiting or running:
        while waiting and len(running) < IN_FLIGHT:
            chunk = waiting.popleft()
            future = executor.submit(check_rows, [row for _, row in chunk], default_region)
            running[future] = chunk
        done = [future for future in running if future.done()]
        for future in done:
            yield running.pop(future), future.result()
        if done:
            continue
        if waiting:
            chunk = waiting.pop()
            yield chunk, check_rows([row for _, row in chunk], default_region)
        else:
            wait(running, return_when=FIRST_COMPLETED)


def check_rows(rows: list[dict[str, Any]], default_region: str) -> Checked:
    """:func:`validate_rows` of one chunk, as a worker process runs it."""
    return validate_rows(rows, default_region=default_region)


def _count(report: ImportReport, outcomes: Outcomes) -> None:
    for row_number, created, errors in outcomes:
        if errors:
            report.failed += 1
            report.errors.extend(RowError(row_number, e.field, e.reason) for e in errors)
        elif created:
            report.created += 1
        else:
            report.updated += 1


def new_import_pool(program: Sequence[str] = ()) -> ProcessPoolExecutor:
    """The worker processes that check the rows of large imports beside the request's thread.

    One worker fewer than there are cores, since the request thread checks chunks too.
    Workers fork from a forkserver that has already imported this module and ``program``, so
    each starts in milliseconds; spawning one would cost a second or two of CPU importing the
    same modules again. The forkserver (one per process) starts loading them now, in the
    background, so the first large import does not wait for it; workers start at that import.

    ``program`` names the modules the script that started this process imports (``web.cli``
    for ``dm``): a worker runs that script again, as multiprocessing does with ``__main__``,
    and finds them loaded. Preloading ``"__main__"`` does nothing on Pythons without the fix of
    CPython issue 126631 (3.11 and 3.12): each worker of ``dm serve`` imported the service again,
    a second or two of CPU at the start of every large import of a new server.
    """
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__, *program])
        multiprocessing.forkserver.ensure_running()
    return ProcessPoolExecutor(WORKERS, mp_context=context, initializer=_start_worker)


def _start_worker() -> None:
    # The modules a worker inherits live as long as it does, yet the cycle collector would
    # walk all of their objects again on every full collection while chunks run (about a tenth
    # of a chunk's time).
    gc.freeze()


def _upsert_chunk(
    database: Database,
    project_id: str,
    chunk: Sequence[tuple[int, dict[str, Any]]],
    default_region: str,
    checked: Checked | None = None,
) -> Outcomes:
    """Check (unless ``checked`` already) and upsert one chunk in one transaction:
    ``(row number, created, errors)`` each."""
    rows = [r for _, r in chunk]
    if checked is None:
        checked = validate_rows(rows, default_region=default_region)
    for attempt in range(2):
        try:
            with database.session() as session, larger_page_cache(session, CHUNK_CACHE_MB):
                items = upsert_customers(
                    session, project_id, rows, default_region=default_region, checked=checked
                )
            break
        except IntegrityError:
            # A concurrent request created one of these source ids first: now it updates.
            if attempt:
                raise
    return [(chunk[item.index][0], item.created, item.errors) for item in items]


def _metadata_keys(database: Database, project_id: str) -> list[str]:
    if database.is_sqlite:
        sql = (
            "SELECT DISTINCT j.key FROM customer, json_each(customer.metadata) AS j "
            "WHERE customer.project_id = :p AND customer.erased_at IS NULL"
        )
    else:
        sql = (
            "SELECT DISTINCT jsonb_object_keys(metadata) FROM customer "
            "WHERE project_id = :p AND erased_at IS NULL"
        )
    with database.reader() as session:
        return sorted(str(k) for (k,) in session.connection().execute(text(sql), {"p": project_id}))


def _cells(customer: Customer, metadata_keys: list[str]) -> list[str]:
    cells = [customer.id]
    cells += [getattr(customer, name) or "" for name in _PLAIN[:5]]
    cells += [getattr(customer, f"address_{part}") or "" for part in ADDRESS_FIELDS]
    cells += [getattr(customer, name) or "" for name in _PLAIN[5:]]
    for key in metadata_keys:
        value = customer.meta.get(key)
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, str | int | float):
            cells.append(str(value))
        else:
            cells.append(json.dumps(value, ensure_ascii=False))
    return [_exported(cell) for cell in cells]


def export_csv(database: Database, project_id: str) -> Iterator[str]:
    """A project's customers as CSV text, yielded a few hundred rows at a time."""
    keys = _metadata_keys(database, project_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*_EXPORT_COLUMNS, *(f"metadata.{k}" for k in keys)])
    with database.reader() as session:
        for count, customer in enumerate(iter_customers(session, project_id), start=1):
            writer.writerow(_cells(customer, keys))
            if count % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
