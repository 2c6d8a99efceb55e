"""Large imports check and write chunks in worker processes; the outcome is the same."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from distribution.customers.customer_files import (
    _metadata_value,
    check_rows,
    import_rows,
    new_import_pool,
)
from distribution.customers.customer_input import ValidCustomer
from distribution.models import Customer
from distribution.storage.db import Database, larger_page_cache
from tests.conftest import ProjectCredentials


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with new_import_pool() as executor:
        yield executor


def test_parallel_import_keeps_file_order_per_customer_and_reports_every_bad_row(
    database: Database, project: ProjectCredentials, pool: ProcessPoolExecutor
) -> None:
    rows = [(n + 2, {"source_id": f"s{n}", "email": f"u{n}@example.com"}) for n in range(5000)]
    rows[10] = (12, {"source_id": "s10", "email": "not-an-email"})
    # s7 again, much later (validation strips the spaces, and so does the chunking)
    rows[4000] = (4002, {"source_id": " s7 ", "name": "Later wins"})
    rows[4001] = (4003, {"email": "nobody-has-a-source-id@example.com"})
    report = import_rows(
        database,
        project.project.id,
        rows,
        default_region="US",
        executor=pool,
        parallel_from=1000,
        chunk_rows=500,
    )
    assert report.total_rows == 5000
    assert (report.created, report.updated, report.failed) == (4998, 1, 1)
    assert [(e.row, e.field) for e in report.errors] == [(12, "email")]
    with database.reader() as session:
        stored = session.exec(
            select(Customer).where(
                Customer.project_id == project.project.id, Customer.source_id == "s7"
            )
        ).one()
        count = len(
            session.exec(select(Customer.id).where(Customer.project_id == project.project.id)).all()
        )
    assert (stored.name, stored.email) == ("Later wins", "u7@example.com")
    assert count == 4998  # 5,000 rows, one refused, one a second row for s7


def _late(fn: Any, /, *args: Any) -> Any:
    time.sleep(0.02)
    return fn(*args)


class CountingExecutor(ThreadPoolExecutor):
    """A real executor that remembers how many chunks it was given and starts each late, as
    a worker process still starting would."""

    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(_late, fn, *args, **kwargs)


def test_the_calling_thread_checks_chunks_alongside_the_workers(
    database: Database, project: ProjectCredentials
) -> None:
    rows = [(n + 2, {"source_id": f"t{n}", "phone": "+14155552671"}) for n in range(3000)]
    rows[5] = (7, {"source_id": "t5", "phone": "12"})
    with CountingExecutor() as executor:
        report = import_rows(
            database,
            project.project.id,
            rows,
            default_region="US",
            executor=executor,
            parallel_from=1000,
            chunk_rows=100,
        )
    assert (report.created, report.updated, report.failed) == (2999, 0, 1)
    assert [(e.row, e.field) for e in report.errors] == [(7, "phone")]
    assert 0 < executor.submitted < 30  # the other chunks were checked by the calling thread


def _metadata_value_by_definition(cell: str) -> object:
    # The documented rule, tried on every cell: booleans, then the finite number whose text it
    # is (inf and nan stay text).
    if cell in ("true", "false"):
        return cell == "true"
    if cell.lstrip("-").startswith(("inf", "nan")):
        return cell
    for kind in (int, float):
        try:
            number = kind(cell)
        except ValueError:
            continue
        if str(number) == cell:
            return number
    return cell


numberish = st.text(alphabet="-+.e0123456789_ Eaint", max_size=12)


@given(cell=st.one_of(numberish, st.text(min_size=1, max_size=12), st.floats().map(str)))
@settings(max_examples=2000)
def test_metadata_cells_become_numbers_exactly_by_the_rule(cell: str) -> None:
    if cell:
        assert _metadata_value(cell) == _metadata_value_by_definition(cell)
        assert type(_metadata_value(cell)) is type(_metadata_value_by_definition(cell))


def test_a_worker_process_checks_a_chunk_as_this_process_would(
    pool: ProcessPoolExecutor,
) -> None:
    rows: list[dict[str, Any]] = [
        {"source_id": " w1 ", "email": "W1@Example.com", "metadata": {"orders": 3}},
        {"email": "nope"},
        {"phone": "+14155552671", "address": {"country": "France"}},
    ]
    checked = pool.submit(check_rows, rows, "US").result()
    assert checked == check_rows(rows, "US")
    first, refused, third = checked
    assert isinstance(first, ValidCustomer)
    assert isinstance(third, ValidCustomer)
    assert (first.source_id, first.columns["email"]) == ("w1", "W1@example.com")
    assert isinstance(refused, tuple)
    assert [error.field for error in refused] == ["email"]
    assert third.columns["address_country"] == "FR"


# A program like ``dm``: a script that imports the service. A worker runs it again (as
# multiprocessing runs ``__main__`` again in a child) and says whether it found the modules
# loaded, that is, inherited from the forkserver instead of imported anew.
PROGRAM = """
import sys

LOADED_BEFORE = "web.cli" in sys.modules

import web.cli  # noqa: E402,F401

from distribution.customers.customer_files import new_import_pool  # noqa: E402


def loaded_before():
    return LOADED_BEFORE


if __name__ == "__main__":
    with new_import_pool(program=sys.argv[1:]) as pool:
        print(pool.submit(loaded_before).result())
"""


@pytest.mark.slow
@pytest.mark.parametrize(("program", "inherited"), [(["web.cli"], "True"), ([], "False")])
def test_workers_inherit_the_program_from_the_forkserver(
    tmp_path: Path, program: list[str], inherited: str
) -> None:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    ran = subprocess.run(
        [sys.executable, str(script), *program],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=True,
    )
    assert ran.stdout.strip() == inherited


def test_a_chunk_borrows_a_larger_page_cache_for_its_transaction_only(database: Database) -> None:
    with database.session() as session:
        if not database.is_sqlite:
            with larger_page_cache(session, 64):  # no PRAGMA reaches PostgreSQL
                session.connection().exec_driver_sql("SELECT 1")
            return
        connection = session.connection()
        usual = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
        with larger_page_cache(session, 64):
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar_one() == -64 * 1024
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar_one() == usual
