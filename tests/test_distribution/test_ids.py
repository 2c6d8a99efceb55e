"""Ids: time-ordered, and strictly increasing within a process, across threads too."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from distribution.storage.ids import first_id_at, new_id


def test_ids_minted_one_after_another_sort_in_that_order() -> None:
    # Thousands of ids a millisecond: the random part alone would order them at random.
    ids = [new_id("cust") for _ in range(20_000)]

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {len("cust_") + 32}


def test_ids_of_concurrent_threads_are_unique_and_ordered_per_thread() -> None:
    minted: dict[int, list[str]] = {}

    def mint(thread: int) -> None:
        minted[thread] = [new_id("msg") for _ in range(5_000)]

    threads = [threading.Thread(target=mint, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [i for ids in minted.values() for i in ids]
    assert len(set(every)) == len(every) == 20_000
    assert all(ids == sorted(ids) for ids in minted.values())


def test_an_id_sorts_after_the_bound_of_any_earlier_moment() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    minted = new_id("evt")
    after = datetime.now(UTC) + timedelta(seconds=1)

    assert first_id_at("evt", before) <= minted < first_id_at("evt", after)
