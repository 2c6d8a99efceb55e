"""A bulk job's preflight in parts (distributed mode): the parts, stored in any order, add up to
the report of one walk, and the part that completes them starts the job exactly once."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from distribution.bulk import create_job, pause_job, preflight, resume_job
from distribution.bulk.audience import customer_pages, id_ranges
from distribution.bulk.jobs import get_job
from distribution.customers.consent import suppress
from distribution.customers.segments import delete_segment
from distribution.customers.store import upsert_customers
from distribution.distributed.bulk_checks import check_part, pending_checks
from distribution.distributed.bulk_chunks import pending_chunks
from distribution.storage.db import Database
from tests.builders import bulk_setup, bulk_spec, publish_template
from tests.conftest import ProjectCredentials
from tests.test_distribution.engine_helpers import LINKS

PART = 4


def _mixed_audience(database: Database, project_id: str, codes: int) -> dict[str, str]:
    """25 members with email; a third with the variable the template reads, two with a phone
    only, one unsubscribed from marketing email: every count of the report is non-zero."""
    ids = bulk_setup(database, project_id, 25, codes)
    ids["template"] = publish_template(
        database,
        project_id,
        category="marketing",
        subject="For {{ customer.first_name }}",
        # Publishing a marketing email needs the unsubscribe link; the body sets it without
        # printing it, so the samples the checks compare hold no signed (time-stamped) link.
        body="{% set unused = links.unsubscribe_url %}"
        "<p>{{ customer.metadata.nickname }}: {{ code.code }}</p>",
    )
    with database.session() as session:
        upsert_customers(
            session,
            project_id,
            [
                {"source_id": f"r{i}", "metadata": {"wave": "one", "nickname": f"N{i}"}}
                for i in range(0, 25, 3)
            ]
            + [
                {"source_id": f"p{i}", "phone": f"+1415555010{i}", "metadata": {"wave": "one"}}
                for i in range(2)
            ],
            default_region="US",
        )
        suppress(
            session, project_id, "email", "r3@example.com", customer_id=None, reason="unsubscribed"
        )
    return ids


def _scheduled_job(database: Database, project: ProjectCredentials, codes: int) -> tuple[str, str]:
    """A scheduled job to the mixed audience: (project id, job id)."""
    project_id = project.project.id
    ids = _mixed_audience(database, project_id, codes)
    with database.session() as session:
        return project_id, create_job(session, project_id, bulk_spec(ids), actor="t").id


def _one_walk(database: Database, project_id: str, job_id: str) -> dict[str, Any]:
    with database.reader() as session:
        return preflight(session, get_job(session, project_id, job_id), LINKS)


def test_parts_checked_in_any_order_make_the_report_of_one_walk_and_start_the_job(
    database: Database, project: ProjectCredentials
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=40)
    expected = _one_walk(database, project_id, job_id)
    channel = expected["channels"][0]
    assert all(channel[count] > 0 for count in ("sendable", "no_address", "suppressed"))
    assert channel["render_failures"] > 0
    assert len(expected["samples"]) == 3

    status, parts = pending_checks(database, project_id, job_id, size=PART)
    assert status == "scheduled"
    assert len(parts) == 7  # 27 members, 4 a part
    assert parts[0].after is None
    assert parts[-1].upto is None
    assert all(a.upto == b.after for a, b in pairwise(parts))
    # Planned once: asking again gives the same parts.
    assert pending_checks(database, project_id, job_id, size=PART) == (status, parts)

    started = [check_part(database, project_id, job_id, part, LINKS) for part in parts[::-1]]

    assert started == [None] * 6 + ["preparing"]
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
    assert job.status == "preparing"
    assert job.preflight == expected
    assert "checks" not in job.options  # the parts are dropped once assembled
    assert job.started_at is not None


def test_a_part_checked_twice_is_stored_once(
    database: Database, project: ProjectCredentials
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=40)
    expected = _one_walk(database, project_id, job_id)
    _status, parts = pending_checks(database, project_id, job_id, size=PART)

    assert check_part(database, project_id, job_id, parts[0], LINKS) is None
    assert check_part(database, project_id, job_id, parts[0], LINKS) is None
    _status, left = pending_checks(database, project_id, job_id, size=PART)
    assert left == parts[1:]
    finished = [check_part(database, project_id, job_id, part, LINKS) for part in left]

    assert finished[-1] == "preparing"
    # Once started, a late duplicate changes nothing.
    assert check_part(database, project_id, job_id, parts[0], LINKS) is None
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
    assert job.preflight == expected


def test_an_audience_grown_past_the_pool_fails_the_job_when_the_last_part_is_in(
    database: Database, project: ProjectCredentials
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=27)
    _status, parts = pending_checks(database, project_id, job_id, size=PART)
    with database.session() as session:  # three more members while the parts are checked
        upsert_customers(
            session,
            project_id,
            [
                {
                    "source_id": f"late{i}",
                    "email": f"late{i}@example.com",
                    "metadata": {"wave": "one"},
                }
                for i in range(3)
            ],
            default_region="US",
        )

    finished = [check_part(database, project_id, job_id, part, LINKS) for part in parts]

    assert finished[-1] == "failed"
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
    assert job.error == "the pool has 27 codes but the audience needs 30"
    assert job.preflight["audience"] == 30
    # The open-ended last part checked the late members too: every member is counted once.
    channel = job.preflight["channels"][0]
    counted = ("sendable", "no_address", "invalid_address", "suppressed", "render_failures")
    assert sum(channel[count] for count in counted) == 30


def test_a_job_paused_while_checked_keeps_its_parts_and_starts_after_resuming(
    database: Database, project: ProjectCredentials
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=40)
    _status, parts = pending_checks(database, project_id, job_id, size=PART)
    check_part(database, project_id, job_id, parts[0], LINKS)
    with database.session() as session:
        pause_job(session, project_id, job_id)

    assert check_part(database, project_id, job_id, parts[1], LINKS) is None
    assert pending_checks(database, project_id, job_id, size=PART) == ("paused", [])
    with database.session() as session:
        resume_job(session, project_id, job_id)
    status, left = pending_checks(database, project_id, job_id, size=PART)

    assert (status, left) == ("scheduled", parts[1:])
    finished = [check_part(database, project_id, job_id, part, LINKS) for part in left]
    assert finished[-1] == "preparing"


def test_a_large_audience_gets_larger_parts_not_more(
    database: Database, project: ProjectCredentials
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=40)
    expected = _one_walk(database, project_id, job_id)

    _status, parts = pending_checks(database, project_id, job_id, size=PART, max_parts=3)

    assert len(parts) == 3  # 27 members: parts of 12 (a multiple of 4), not 7 parts of 4
    finished = [check_part(database, project_id, job_id, part, LINKS) for part in parts]
    assert finished[-1] == "preparing"
    with database.reader() as session:
        assert get_job(session, project_id, job_id).preflight == expected


def test_id_ranges_cut_a_span_into_contiguous_ranges_that_end_at_its_end(
    database: Database, project: ProjectCredentials
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=40)
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        members = [c.id for page in customer_pages(session, job, None, None, 100) for c in page]
        whole = id_ranges(session, job, None, 4)
        span = id_ranges(session, job, members[2], 4, members[12])
        tail = id_ranges(session, job, members[20], 4, members[-1] + "~")  # past the last id
        empty = id_ranges(session, job, members[-1], 4, members[-1] + "~")

    assert len(members) == 27
    assert whole == [(None, members[3]), *pairwise(members[3::4]), (members[23], None)]
    assert span == [(members[2], members[6]), (members[6], members[10]), (members[10], members[12])]
    # The audience ends before the span does: the last range takes the rest of the span.
    assert tail == [(members[20], members[24]), (members[24], members[-1] + "~")]
    assert empty == [(members[-1], members[-1] + "~")]  # nobody in it yet, still covered


def test_the_parts_plan_the_preparation_chunks_of_their_own_spans(
    database: Database, project: ProjectCredentials
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=40)
    _status, parts = pending_checks(database, project_id, job_id, size=PART)
    for part in parts:
        check_part(database, project_id, job_id, part, LINKS)
    with database.reader() as session:
        job = get_job(session, project_id, job_id)

    # 27 members are one chunk per part: the plan is the parts' spans, open-ended at the end.
    assert job.options["chunks"] == [[part.after, part.upto] for part in parts]
    assert job.options["chunks_done"] == []
    assert pending_chunks(database, project_id, job_id) == parts


@pytest.mark.parametrize("planned", [False, True], ids=["before", "during"])
def test_a_segment_deleted_before_or_during_the_checks_fails_the_job(
    database: Database, project: ProjectCredentials, planned: bool
) -> None:
    project_id, job_id = _scheduled_job(database, project, codes=40)
    with database.reader() as session:
        segment_id = str(get_job(session, project_id, job_id).audience["segment_id"])
    parts = pending_checks(database, project_id, job_id, size=PART)[1] if planned else []
    with database.session() as session:
        delete_segment(session, project_id, segment_id)

    if planned:
        assert check_part(database, project_id, job_id, parts[0], LINKS) == "failed"
    else:
        assert pending_checks(database, project_id, job_id, size=PART) == ("failed", [])

    with database.reader() as session:
        job = get_job(session, project_id, job_id)
    assert job.status == "failed"
    assert job.error == "preflight failed: audience.segment: no such segment"
