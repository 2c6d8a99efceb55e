"""A bulk job's audience: a segment (evaluated as the job runs) or a fixed list of customer ids.

Customers are walked in id order after a cursor, so a restarted job continues where the last
committed batch ended. Lists (given ids, source ids, or an uploaded CSV upserted first) are
resolved to our ids once, when the job is created, and stored sorted with the job.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Select, func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from distribution.customers.segments import get_segment, member_condition
from distribution.errors import FieldError, InvalidInputError, NotFoundError
from distribution.models import CUSTOMER_COLUMNS, BulkJob, Customer, CustomerRecord

__all__ = [
    "MAX_LISTED",
    "audience_size",
    "customer_pages",
    "id_ranges",
    "live_customers",
    "next_customers",
    "resolve_listed",
]

MAX_LISTED = 1_000_000
_IN_CHUNK = 5_000


def resolve_listed(session: Session, project_id: str, keys: Sequence[str]) -> list[str]:
    """Our ids, sorted, for customer ids or source ids; unknown ones are a 422 naming them."""
    if len(keys) > MAX_LISTED:
        raise InvalidInputError(
            [FieldError("audience.customers", f"at most {MAX_LISTED:,} customers")]
        )
    found: set[str] = set()
    missing: list[str] = []
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = [k for k in keys[start : start + _IN_CHUNK] if "\x00" not in k]
        rows = session.exec(
            select(Customer.id, Customer.source_id).where(
                Customer.project_id == project_id,
                col(Customer.erased_at).is_(None),
                col(Customer.id).in_(chunk) | col(Customer.source_id).in_(chunk),
            )
        ).all()
        known = {i for i, _ in rows} | {s for _, s in rows if s}
        by_key = {i: i for i, _ in rows} | {s: i for i, s in rows if s}
        for key in keys[start : start + _IN_CHUNK]:
            if key in known:
                found.add(by_key[key])
            else:
                missing.append(key)
    if missing:
        shown = ", ".join(repr(m[:80]) for m in missing[:10])
        raise InvalidInputError(
            [FieldError("audience.customers", f"{len(missing)} unknown customers: {shown}")]
        )
    return sorted(found)


def _segment_filter(session: Session, job: BulkJob) -> Any:
    segment_id = str(job.audience.get("segment_id"))
    try:
        segment = get_segment(session, job.project_id, segment_id)
    except NotFoundError:
        raise InvalidInputError([FieldError("audience.segment", "no such segment")]) from None
    return member_condition(segment, session.get_bind().dialect.name)


def _live(project_id: str, *columns: Any) -> Select[Any]:
    # Plain records, not ORM objects: building those cost more than the query and the render.
    return core_select(*(columns or CUSTOMER_COLUMNS)).where(
        col(Customer.project_id) == project_id, col(Customer.erased_at).is_(None)
    )


def _segment_page(
    session: Session, job: BulkJob, after: str | None, limit: int, *columns: Any
) -> Select[Any]:
    """The next ``limit`` live members of the job's segment after ``after``, in id order."""
    query = _live(job.project_id, *columns).where(_segment_filter(session, job))
    if after is not None:
        query = query.where(col(Customer.id) > after)
    return query.order_by(col(Customer.id)).limit(limit)


def _records(session: Session, query: Select[Any]) -> list[CustomerRecord]:
    return [CustomerRecord(*row) for row in session.connection().execute(query)]


def live_customers(session: Session, project_id: str, ids: Sequence[str]) -> list[CustomerRecord]:
    """The live customers among ``ids``, in id order (erased and unknown ones left out)."""
    query = _live(project_id).where(col(Customer.id).in_(list(ids))).order_by(col(Customer.id))
    return _records(session, query)


def next_customers(
    session: Session, job: BulkJob, after: str | None, limit: int
) -> tuple[list[CustomerRecord], str | None]:
    """Up to ``limit`` live audience customers after ``after``, and the new cursor.

    The cursor can move past the customers returned (listed ids erased since), never back.
    """
    if "segment_id" in job.audience:
        rows = _records(session, _segment_page(session, job, after, limit))
        return rows, (rows[-1].id if rows else after)
    ids = _listed_page(job, after, limit)
    if not ids:
        return [], after
    return live_customers(session, job.project_id, ids), ids[-1]


def _listed_page(job: BulkJob, after: str | None, limit: int) -> list[str]:
    listed: list[str] = job.audience.get("customer_ids", [])
    start = bisect.bisect_right(listed, after) if after is not None else 0
    return listed[start : start + limit]


def customer_pages(
    session: Session, job: BulkJob, after: str | None, upto: str | None, size: int
) -> Iterator[list[CustomerRecord]]:
    """The live audience customers with ids in (``after``, ``upto``], ``size`` at a time;
    ``upto`` None: to the end of the audience."""
    cursor = after
    while True:
        customers, following = next_customers(session, job, cursor, size)
        if following == cursor:
            return
        if upto is not None:
            customers = [c for c in customers if c.id <= upto]
        if customers:
            yield customers
        if upto is not None and str(following) >= upto:
            return
        cursor = following


def _next_cursor(session: Session, job: BulkJob, after: str | None, limit: int) -> str | None:
    """Where ``next_customers`` would leave the cursor, reading ids only."""
    if "segment_id" in job.audience:
        statement = _segment_page(session, job, after, limit, col(Customer.id))
        ids = [str(i) for i in session.connection().execute(statement).scalars()]
    else:
        ids = _listed_page(job, after, limit)
    return ids[-1] if ids else after


def id_ranges(
    session: Session, job: BulkJob, after: str | None, size: int, upto: str | None = None
) -> list[tuple[str | None, str | None]]:
    """The audience in (``after``, ``upto``] cut into contiguous ranges (after, upto] of about
    ``size`` customers, reading ids only. The last range ends at ``upto``; with ``upto`` None it
    is open-ended, so it also takes customers added later. A bounded span without customers is
    one empty range (customers may still arrive in it); an empty audience has no range."""
    ranges: list[tuple[str | None, str | None]] = []
    cursor = after
    while (following := _next_cursor(session, job, cursor, size)) != cursor and (
        upto is None or str(following) < upto
    ):
        ranges.append((cursor, following))
        cursor = following
    if ranges and (upto is None or following == cursor):  # the audience ended: the last range
        ranges[-1] = (ranges[-1][0], upto)  # takes the rest of the span
    elif upto is not None:
        ranges.append((cursor, upto))
    return ranges


def audience_size(session: Session, job: BulkJob) -> int:
    """How many live customers the audience holds now."""
    if "segment_id" in job.audience:
        statement = select(func.count()).where(
            Customer.project_id == job.project_id,
            col(Customer.erased_at).is_(None),
            _segment_filter(session, job),
        )
        return int(session.exec(statement).one())
    listed: list[str] = job.audience.get("customer_ids", [])
    total = 0
    for start in range(0, len(listed), _IN_CHUNK):
        total += int(
            session.exec(
                select(func.count()).where(
                    Customer.project_id == job.project_id,
                    col(Customer.erased_at).is_(None),
                    col(Customer.id).in_(listed[start : start + _IN_CHUNK]),
                )
            ).one()
        )
    return total
