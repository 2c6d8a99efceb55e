"""Code pools: create, import (CSV or JSON, streamed in chunks), generate, count, warn low stock.

A code is unique within its project (``uq_code_project_code``). An import or generation writes
chunks of ``CHUNK`` codes, each in its own transaction, so a million-code file never sits in one
transaction; a code already in the project, or repeated in the file, is reported and skipped.

Generated codes follow a config in the manner of Voucherify's: ``prefix + body + postfix``, where
the body is ``length`` characters of ``charset``, or a ``pattern`` in which ``#`` is a random
digit, ``?`` a random letter, ``*`` any character of ``charset`` and anything else itself
(``REF-####-????``). Collisions with existing codes are retried with fresh random codes.
"""

from __future__ import annotations

import csv
import json
import math
import random
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from distribution.codes.campaigns import get_campaign
from distribution.errors import FieldError, InvalidInputError, NotFoundError, PayloadTooLargeError
from distribution.models import Code, CodePool, utcnow
from distribution.storage.db import Database, insert_skipping_conflicts
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row
from distribution.webhooks.subscriptions import emit

__all__ = [
    "CHUNK",
    "MAX_CODE_LENGTH",
    "MAX_GENERATE",
    "MAX_IMPORT",
    "CodeConfig",
    "ImportReport",
    "PoolStats",
    "create_pool",
    "generate_codes",
    "get_pool",
    "import_codes",
    "list_pools",
    "note_stock",
    "pool_stats",
    "read_code_csv",
    "read_code_json",
    "set_low_stock_threshold",
]

CHUNK = 5_000
MAX_IMPORT = 5_000_000
MAX_GENERATE = 1_000_000
MAX_CODE_LENGTH = 100
MAX_REPORTED = 100
DEFAULT_CHARSET = string.ascii_uppercase + string.digits
_RANDOM = random.SystemRandom()


@dataclass(frozen=True)
class PoolStats:
    """How many codes a pool holds, by status."""

    total: int
    available: int
    assigned: int
    revoked: int


@dataclass
class ImportReport:
    """What an import or generation did: codes added, and the first rows it refused and why."""

    added: int = 0
    rejected: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, row: int, code: str, reason: str) -> None:
        self.rejected += 1
        if len(self.rows) < MAX_REPORTED:
            self.rows.append({"row": row, "code": code, "reason": reason})


def create_pool(
    session: Session,
    project_id: str,
    campaign_id: str,
    name: str,
    low_stock_threshold: int | None = None,
) -> CodePool:
    """A new, empty pool of the campaign."""
    errors = []
    if not name.strip() or len(name) > 200:
        errors.append(FieldError("name", "must be 1-200 characters"))
    errors.extend(_threshold_problems(low_stock_threshold))
    if errors:
        raise InvalidInputError(errors)
    try:
        get_campaign(session, project_id, campaign_id)
    except NotFoundError:
        raise InvalidInputError([FieldError("campaign", "no such campaign")]) from None
    pool = CodePool(
        id=new_id("pool"),
        project_id=project_id,
        campaign_id=campaign_id,
        name=name.strip(),
        low_stock_threshold=low_stock_threshold,
    )
    session.add(pool)
    session.flush()
    return pool


def _threshold_problems(threshold: int | None) -> list[FieldError]:
    if threshold is not None and not 0 <= threshold <= 1_000_000_000:
        return [FieldError("low_stock_threshold", "must be between 0 and 1,000,000,000")]
    return []


def set_low_stock_threshold(
    session: Session, project_id: str, pool_id: str, threshold: int | None
) -> CodePool:
    """Change (or with None remove) a pool's low-stock threshold.

    The warning is re-armed by the change, then judged again at once against the new threshold,
    so lowering it below the stock ends a warning and raising it above warns (once).
    """
    errors = _threshold_problems(threshold)
    if errors:
        raise InvalidInputError(errors)
    pool = get_pool(session, project_id, pool_id)
    pool.low_stock_threshold = threshold
    pool.low_stock_alerted_at = None
    session.add(pool)
    note_stock(session, pool)
    session.flush()
    return pool


def list_pools(session: Session, project_id: str, campaign_id: str | None = None) -> list[CodePool]:
    """The project's pools (of one campaign when given), oldest first."""
    query = select(CodePool).where(CodePool.project_id == project_id)
    if campaign_id is not None:
        query = query.where(CodePool.campaign_id == campaign_id)
    return list(session.exec(query.order_by(col(CodePool.id))))


def get_pool(session: Session, project_id: str, pool_id: str) -> CodePool:
    """A pool of the project."""
    return project_row(session, CodePool, project_id, pool_id, "code pool")


def pool_stats(session: Session, pool_id: str) -> PoolStats:
    """Counts by status (one grouped query over the pool's status index)."""
    counts = dict(
        session.exec(
            select(Code.status, func.count())
            .where(Code.pool_id == pool_id)
            .group_by(col(Code.status))
        ).all()
    )
    available, assigned, revoked = (
        int(counts.get(s, 0)) for s in ("available", "assigned", "revoked")
    )
    return PoolStats(available + assigned + revoked, available, assigned, revoked)


def note_stock(session: Session, pool: CodePool) -> None:
    """Warn once (``code_pool.low_stock``) when available codes fall below the threshold.

    The warning re-arms when new codes lift the pool above the threshold again.
    """
    if pool.low_stock_threshold is None:
        return
    stats = pool_stats(session, pool.id)
    low = stats.available < pool.low_stock_threshold
    if low and pool.low_stock_alerted_at is None:
        pool.low_stock_alerted_at = utcnow()
        session.add(pool)
        emit(
            session,
            pool.project_id,
            "code_pool.low_stock",
            {
                "object": "code_pool",
                "id": pool.id,
                "campaign_id": pool.campaign_id,
                "available": stats.available,
                "threshold": pool.low_stock_threshold,
            },
        )
    elif not low and pool.low_stock_alerted_at is not None:
        pool.low_stock_alerted_at = None
        session.add(pool)


def read_code_csv(stream: IO[str]) -> Iterator[tuple[int, str]]:
    """(row number, code) from the first column of a CSV; a header cell ``code`` is skipped."""
    try:
        yield from _csv_codes(stream)
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidInputError([FieldError("file", f"is not UTF-8 CSV ({error})")]) from None


def _csv_codes(stream: IO[str]) -> Iterator[tuple[int, str]]:
    for number, cells in enumerate(csv.reader(stream), start=1):
        if not cells or not any(cells):
            continue
        cell = cells[0]
        if number == 1 and cell.strip().lower() == "code":
            continue
        yield number, cell


def read_code_json(raw: bytes) -> Iterator[tuple[int, str]]:
    """(position from 1, code) from a JSON array of strings or of objects with ``code``."""
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise InvalidInputError([FieldError("file", f"is not valid JSON ({error})")]) from None
    if isinstance(data, dict) and isinstance(data.get("codes"), list):
        data = data["codes"]
    if not isinstance(data, list):
        raise InvalidInputError([FieldError("file", "must be a JSON array of codes")])
    for number, item in enumerate(data, start=1):
        value = item.get("code") if isinstance(item, dict) else item
        yield number, value if isinstance(value, str) else f"\x00{item!r}"


def _code_problem(code: str) -> str | None:
    if code.startswith("\x00"):
        return "must be a string"
    if not code or len(code) > MAX_CODE_LENGTH:
        return f"must be 1-{MAX_CODE_LENGTH} characters"
    if not code.isprintable() or any(c.isspace() for c in code):
        return "must not contain spaces or control characters"
    return None


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert rows, skipping any a concurrent writer added first; the codes inserted."""
    if not rows:
        return set()
    table = Code.__table__  # type: ignore[attr-defined]
    statement = insert_skipping_conflicts(session, table)
    inserted = session.execute(statement.returning(table.c.code), rows).scalars().all()
    return set(inserted)


def _add_chunk(
    database: Database, pool: CodePool, chunk: list[tuple[int, str]], report: ImportReport
) -> None:
    with database.session() as session:
        known = dict(
            session.exec(
                select(Code.code, Code.pool_id).where(
                    Code.project_id == pool.project_id, col(Code.code).in_([c for _, c in chunk])
                )
            ).all()
        )
        rows = []
        attempted: dict[str, int] = {}
        for number, code in chunk:
            if code in known:
                where = "this pool" if known[code] == pool.id else "another pool of the project"
                report.refuse(number, code, f"already in {where}")
                continue
            known[code] = pool.id
            attempted[code] = number
            rows.append(
                {
                    "project_id": pool.project_id,
                    "pool_id": pool.id,
                    "campaign_id": pool.campaign_id,
                    "code": code,
                    "status": "available",
                }
            )
        inserted = _insert_new(session, rows)
        report.added += len(inserted)
        for code, number in attempted.items():
            if code not in inserted:
                report.refuse(number, code, "added by a concurrent import")
        refreshed = session.get(CodePool, pool.id)
        if refreshed is not None:
            note_stock(session, refreshed)


def import_codes(
    database: Database, project_id: str, pool_id: str, codes: Iterable[tuple[int, str]]
) -> ImportReport:
    """Add codes to a pool in chunks; refused rows (invalid, duplicate) are reported, not fatal.

    Raises:
        NotFoundError: No such pool in the project.
        PayloadTooLargeError: More than ``MAX_IMPORT`` rows (rows before the limit are kept).
    """
    with database.reader() as session:
        pool = get_pool(session, project_id, pool_id)
    report = ImportReport()
    chunk: list[tuple[int, str]] = []
    seen = 0
    for number, code in codes:
        seen += 1
        if seen > MAX_IMPORT:
            raise PayloadTooLargeError(f"an import takes at most {MAX_IMPORT:,} codes")
        problem = _code_problem(code)
        if problem is not None:
            report.refuse(number, code.lstrip("\x00"), problem)
            continue
        chunk.append((number, code))
        if len(chunk) >= CHUNK:
            _add_chunk(database, pool, chunk, report)
            chunk = []
    if chunk:
        _add_chunk(database, pool, chunk, report)
    return report


@dataclass(frozen=True)
class CodeConfig:
    """How to generate codes (see the module docstring)."""

    count: int
    length: int | None = None
    charset: str = DEFAULT_CHARSET
    prefix: str = ""
    postfix: str = ""
    pattern: str | None = None

    def check(self) -> list[FieldError]:
        """Every field that makes the config unusable."""
        errors = []
        if not 1 <= self.count <= MAX_GENERATE:
            errors.append(FieldError("count", f"must be between 1 and {MAX_GENERATE:,}"))
        if not self.charset or len(set(self.charset)) != len(self.charset):
            errors.append(FieldError("charset", "must be non-empty characters without repeats"))
        elif _code_problem(self.charset) is not None:
            errors.append(FieldError("charset", "must not contain spaces or control characters"))
        for name in ("prefix", "postfix"):
            value = getattr(self, name)
            if value and _code_problem(value) is not None:
                errors.append(FieldError(name, "must not contain spaces or control characters"))
        if self.pattern is not None:
            if self.length is not None:
                errors.append(FieldError("length", "give either a length or a pattern"))
            if not any(c in "#?*" for c in self.pattern):
                errors.append(FieldError("pattern", "needs at least one of #, ? or *"))
            elif _code_problem(self.pattern) is not None:
                errors.append(FieldError("pattern", "must not contain spaces or control chars"))
        elif self.length is None or not 1 <= self.length <= 64:
            errors.append(FieldError("length", "must be between 1 and 64 (or give a pattern)"))
        body = len(self.pattern) if self.pattern is not None else min(self.length or 0, 64)
        total = len(self.prefix) + len(self.postfix) + body
        if total > MAX_CODE_LENGTH:
            errors.append(FieldError("length", f"codes must be at most {MAX_CODE_LENGTH} long"))
        if not errors and self.space() < self.count:
            errors.append(
                FieldError("count", f"the config can make only {self.space():,} distinct codes")
            )
        return errors

    def _slots(self) -> list[str]:
        letters = "".join(c for c in self.charset if c.isalpha()) or string.ascii_uppercase
        if self.pattern is None:
            return [self.charset] * (self.length or 0)
        slots = {"#": string.digits, "?": letters, "*": self.charset}
        return [slots.get(c, c) for c in self.pattern]

    def space(self) -> int:
        """How many distinct codes the config can make."""
        size = 1
        for slot in self._slots():
            size *= len(slot)
        return size

    def make(self, count: int) -> list[str]:
        """``count`` random codes (they may repeat; the caller keeps the new ones)."""
        slots = self._slots()
        choice = _RANDOM.choice
        return [
            self.prefix + "".join([choice(s) if len(s) > 1 else s for s in slots]) + self.postfix
            for _ in range(count)
        ]


#: Rounds in a row that find no free code before generation stops: the space is used up.
_FRUITLESS_ROUNDS = 3


def generate_codes(
    database: Database, project_id: str, pool_id: str, config: CodeConfig, chunk: int = CHUNK
) -> ImportReport:
    """Generate ``config.count`` new codes, unique in the project; collisions are retried.

    Each round draws enough random codes for what is still missing, given the share of draws
    that were free in the round before, and keeps the ones not in the project yet. Only when
    rounds of ``chunk`` draws find no free code at all (the config's space is as good as used
    up by the project's codes) does it stop, reporting what it made (``added``) and what it could
    not (``rejected``, with the reason).

    Raises:
        InvalidInputError: The config is unusable (every bad field named).
        NotFoundError: No such pool in the project.
    """
    errors = config.check()
    if errors:
        raise InvalidInputError(errors)
    with database.reader() as session:
        pool = get_pool(session, project_id, pool_id)
    report = ImportReport()
    missing = config.count
    free_share = 1.0  # of the last round's draws, the share that was new
    fruitless = 0
    while missing > 0 and fruitless < _FRUITLESS_ROUNDS:
        draws = min(chunk, math.ceil(min(missing, chunk) / free_share * 1.2) + 16)
        drawn = list(dict.fromkeys(config.make(draws)))
        with database.reader() as session:
            taken = set(
                session.exec(
                    select(Code.code).where(
                        Code.project_id == project_id, col(Code.code).in_(drawn)
                    )
                ).all()
            )
        fresh = [c for c in drawn if c not in taken]
        free_share = max(len(fresh) / draws, 1 / chunk)
        round_report = ImportReport()
        _add_chunk(database, pool, list(enumerate(fresh[: min(missing, chunk)], 1)), round_report)
        report.added += round_report.added
        missing -= round_report.added
        fruitless = 0 if round_report.added else fruitless + 1
    if missing > 0:
        report.rejected = missing
        reason = (
            f"{missing:,} codes could not be made: {_FRUITLESS_ROUNDS} rounds of {chunk:,} random "
            f"codes found none that the project does not hold already (the config can make "
            f"{config.space():,} codes)"
        )
        report.rows.append({"row": 0, "code": "", "reason": reason})
    return report
