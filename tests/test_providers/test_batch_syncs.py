"""sync_many of Mailchimp (/3.0/batches) and ActiveCampaign (bulk contact import) against their
fakes: batch sizes, per-profile answers, whole-call errors, hostile batch results."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

import pytest

from providers.activecampaign import ActiveCampaignConfig, ActiveCampaignSync
from providers.batching import PollSchedule, batches
from providers.errors import PermanentProviderError, ProviderError, TransientProviderError
from providers.http_transport import GuardedClient
from providers.mailchimp_audience import (
    MailchimpAudienceConfig,
    MailchimpAudienceSync,
    subscriber_hash,
)
from providers.mailchimp_batch_results import BatchResultsError, read_batch_results
from providers.message import ProfileUpdate, SendResult
from providers.protocol import BatchSync
from providers.registry import build_sync

from .fakes import activecampaign, mailchimp_marketing
from .fakes.activecampaign import FakeActiveCampaign
from .fakes.asgi import Fault
from .fakes.mailchimp_marketing import FakeMailchimpMarketing, results_archive

FAST = PollSchedule(first=0.01, factor=1.0, longest=0.01, total=0.05)


def update(n: int, email: str | None = None, **values: Any) -> ProfileUpdate:
    return ProfileUpdate(
        id=f"upd_{n}",
        email=email if email is not None else f"member{n}@example.com",
        first_name=f"Name{n}",
        code=f"CODE-{n}",
        **values,
    )


def mailchimp(url: str, client: GuardedClient) -> BatchSync:
    config = {
        "api_key": mailchimp_marketing.API_KEY,
        "list_id": mailchimp_marketing.LIST_ID,
        "merge_fields": {"RCODE": "code", "FNAME": "first_name"},
        "base_url": url,
    }
    sync = build_sync("mc", "mailchimp_audience", config, http_client=client)
    assert isinstance(sync, BatchSync)
    return sync


def mailchimp_fast(url: str, client: GuardedClient) -> MailchimpAudienceSync:
    config = MailchimpAudienceConfig(
        api_key=mailchimp_marketing.API_KEY,
        list_id=mailchimp_marketing.LIST_ID,
        merge_fields={"RCODE": "code"},
        base_url=url,
    )
    return MailchimpAudienceSync("mc", config, http_client=client, poll_schedule=FAST)


def campaign(url: str, client: GuardedClient) -> BatchSync:
    config = {
        "api_token": activecampaign.API_TOKEN,
        "base_url": url,
        "fields": {"12": "code", "13": "reward"},
    }
    sync = build_sync("ac", "activecampaign", config, http_client=client)
    assert isinstance(sync, BatchSync)
    return sync


def campaign_fast(url: str, client: GuardedClient) -> ActiveCampaignSync:
    config = ActiveCampaignConfig(
        api_token=activecampaign.API_TOKEN, base_url=url, fields={"12": "code"}
    )
    return ActiveCampaignSync("ac", config, http_client=client, poll_schedule=FAST)


def posted(api: Any, path: str) -> list[Any]:
    return [r.json() for r in api.requests if r.method == "POST" and r.path == path]


def test_batches_cut_by_size_and_put_a_repeated_key_in_a_later_batch() -> None:
    assert batches(["a", "b", "c", "d", "e"], 2) == [[0, 1], [2, 3], [4]]
    # "a" twice: its second update waits for a batch after the first one's.
    assert batches(["a", "b", "a", "c", "a"], 10) == [[0, 1, 3], [2], [4]]


def test_poll_schedule_is_bounded() -> None:
    delays = list(PollSchedule(first=1, factor=2, longest=4, total=20).delays())
    assert delays == [1, 2, 4, 4, 4, 4]
    assert sum(delays) <= 20


# --- Mailchimp -------------------------------------------------------------------------------


async def test_mailchimp_writes_every_member_through_batches_of_500(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    updates = [update(n) for n in range(1001)]
    outcomes = await mailchimp(url, http_client).sync_many(updates)
    assert [len(b["operations"]) for b in posted(api, "/3.0/batches")] == [500, 500]
    # The lone member left over: its own PUT, not a batch of one.
    assert [r.method for r in api.requests if r.path.startswith("/3.0/lists/")] == ["PUT"]
    assert all(isinstance(o, SendResult) and o.status == "sent" for o in outcomes)
    assert [o.provider_message_id for o in outcomes if isinstance(o, SendResult)] == [
        subscriber_hash(u.email or "") for u in updates
    ]
    assert api.members[subscriber_hash("member1000@example.com")]["merge_fields"] == {
        "RCODE": "CODE-1000",
        "FNAME": "Name1000",
    }
    # The results archive is fetched without the API key (the fake's storage refuses it).
    downloads = [r for r in api.requests if r.path.startswith("/batch-results/")]
    assert len(downloads) == 2
    assert all("authorization" not in r.headers for r in downloads)


async def test_mailchimp_operations_are_the_single_upsert(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    sync = mailchimp(url, http_client)
    updates = [update(1), update(2)]
    await sync.sync_many(updates)
    [created] = posted(api, "/3.0/batches")
    shown = [sync.requests(u)[0] for u in updates]
    assert [
        (op["method"], "/3.0" + op["path"], json.loads(op["body"])) for op in created["operations"]
    ] == [(r.method, r.path, r.body) for r in shown]


async def test_mailchimp_a_single_member_is_one_put(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    [outcome] = await mailchimp(url, http_client).sync_many([update(1)])
    assert isinstance(outcome, SendResult)
    assert [(r.method, r.path) for r in api.requests] == [
        (
            "PUT",
            f"/3.0/lists/{mailchimp_marketing.LIST_ID}/members/"
            + subscriber_hash("member1@example.com"),
        )
    ]
    api.reset()
    [bad] = await mailchimp(url, http_client).sync_many([update(1, email="nope@")])
    assert isinstance(bad, PermanentProviderError)


async def test_mailchimp_never_changes_an_existing_members_status(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    gone = subscriber_hash("member1@example.com")
    api.members[gone] = {"id": gone, "status": "unsubscribed", "merge_fields": {"RCODE": "OLD"}}
    outcomes = await mailchimp(url, http_client).sync_many([update(1), update(2)])
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert api.members[gone]["status"] == "unsubscribed"
    assert api.members[gone]["merge_fields"]["RCODE"] == "CODE-1"
    assert api.members[subscriber_hash("member2@example.com")]["status"] == "transactional"
    [created] = posted(api, "/3.0/batches")
    assert all("status" not in json.loads(op["body"]) for op in created["operations"])


async def test_mailchimp_member_errors_go_to_their_own_update(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    updates = [
        update(0),
        update(1, email="not-an-address"),
        update(2),
        ProfileUpdate("upd_3", phone="+15550100"),
    ]
    outcomes = await mailchimp(url, http_client).sync_many(updates)
    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[2], SendResult)
    assert isinstance(outcomes[1], PermanentProviderError)
    assert outcomes[1].status_code == 400
    assert "Please provide a valid email address." in outcomes[1].excerpt
    # No address: refused without a call, and never part of a batch.
    assert isinstance(outcomes[3], PermanentProviderError)
    assert "email address is required" in str(outcomes[3])
    [created] = posted(api, "/3.0/batches")
    assert len(created["operations"]) == 3


async def test_mailchimp_same_member_twice_is_written_in_order(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    first = update(1, email="twice@example.com")
    second = ProfileUpdate(id="upd_again", email="Twice@Example.com", code="NEWER")
    outcomes = await mailchimp(url, http_client).sync_many([first, update(2), second])
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert [len(b["operations"]) for b in posted(api, "/3.0/batches")] == [2]
    assert [r.method for r in api.requests][-1] == "PUT"  # the repeat, after the batch
    assert api.members[subscriber_hash("twice@example.com")]["merge_fields"]["RCODE"] == "NEWER"


async def test_mailchimp_429_fails_the_whole_call_and_stops(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    api.fail_next(status=429, headers={"Retry-After": "7"})
    outcomes = await mailchimp(url, http_client).sync_many([update(n) for n in range(600)])
    assert len(outcomes) == 600
    assert all(isinstance(o, TransientProviderError) and o.retry_after == 7.0 for o in outcomes)
    assert len(api.requests) == 1  # the second batch is not attempted
    assert api.members == {}


async def test_mailchimp_polls_until_finished_and_5xx_there_is_transient(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    api.polls_before_finished = 2
    sync = mailchimp_fast(url, http_client)
    outcomes = await sync.sync_many([update(1), update(2)])
    assert all(isinstance(o, SendResult) for o in outcomes)
    polls = [r for r in api.requests if r.method == "GET" and r.path.startswith("/3.0/batches/")]
    assert len(polls) == 3
    api.poll_fault = 503
    outcomes = await sync.sync_many([update(3), update(4)])
    assert all(isinstance(o, TransientProviderError) and o.status_code == 503 for o in outcomes)


async def test_mailchimp_batch_not_finished_in_time_is_transient(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    api.polls_before_finished = 1000
    outcomes = await mailchimp_fast(url, http_client).sync_many([update(1), update(2)])
    assert all(isinstance(o, TransientProviderError) for o in outcomes)
    assert "not finished after 0.05 s" in str(outcomes[0])
    polls = [r for r in api.requests if r.method == "GET" and r.path.startswith("/3.0/batches/")]
    assert len(polls) == len(list(FAST.delays()))


async def test_mailchimp_seeded_faults_each_update_gets_its_own_answer(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    """Failed operations (429 inside a batch) and failed calls (429/503 on the batch calls):
    every update has one outcome, `sent` exactly for the members written."""
    api, url = mailchimp_marketing_api
    api.fail_operations_randomly(0.2, 429, seed=7)
    updates = [update(n) for n in range(1200)]
    outcomes = await mailchimp(url, http_client).sync_many(updates)
    sent = {u.email for u, o in zip(updates, outcomes, strict=True) if isinstance(o, SendResult)}
    failed = [o for o in outcomes if not isinstance(o, SendResult)]
    assert all(isinstance(o, TransientProviderError) and o.status_code == 429 for o in failed)
    assert 150 < len(failed) < 350
    assert sent == {m["email_address"] for m in api.members.values()}

    api.reset()
    api.fail_randomly(0.5, [Fault(429, b"", {}, None), Fault(503, b"", {}, None)], seed=3)
    outcomes = await mailchimp(url, http_client).sync_many(updates)
    assert len(outcomes) == 1200
    sent = {u.email for u, o in zip(updates, outcomes, strict=True) if isinstance(o, SendResult)}
    assert all(isinstance(o, SendResult | TransientProviderError) for o in outcomes)
    assert sent <= {m["email_address"] for m in api.members.values()}


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def bomb() -> bytes:
    """A small gzip that inflates past the 32 MB cap (a tar of one 40 MB file of zeros)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as gz:
        header = tarfile.TarInfo("big.json")
        header.size = 40 * 1024 * 1024
        gz.write(header.tobuf())
        zeros = bytes(1024 * 1024)
        for _ in range(40):
            gz.write(zeros)
    return buffer.getvalue()


HOSTILE = {
    "gzip bomb": (bomb, "larger than"),
    "not gzip": (lambda: b"<html>nope</html>", "not a gzip file"),
    "cut short": (lambda: results_archive([])[:30], "cut short"),
    "not a tar": (lambda: gzip.compress(b"just text, no tar headers" * 40), "not a tar"),
    "not JSON": (lambda: tar_gz({"a.json": b"{nope"}), "not JSON"),
    "deep JSON": (lambda: tar_gz({"a.json": b"[" * 100_000 + b"]" * 100_000}), "not JSON"),
    "not an array": (lambda: tar_gz({"a.json": b'{"status_code": 200}'}), "not an array"),
    "no operation id": (lambda: tar_gz({"a.json": b'[{"status_code": 200}]'}), "operation_id"),
    "status as text": (
        lambda: tar_gz({"a.json": b'[{"status_code": "200", "operation_id": "0"}]'}),
        "status_code",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_mailchimp_hostile_results_give_an_error_not_a_crash(
    case: str,
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str],
    http_client: GuardedClient,
) -> None:
    api, url = mailchimp_marketing_api
    make, reason = HOSTILE[case]
    api.results_override = make()
    outcomes = await mailchimp(url, http_client).sync_many([update(1), update(2)])
    assert all(isinstance(o, TransientProviderError) for o in outcomes)
    assert "results are unreadable" in str(outcomes[0])
    assert reason in str(outcomes[0])


async def test_mailchimp_results_missing_an_operation(
    mailchimp_marketing_api: tuple[FakeMailchimpMarketing, str], http_client: GuardedClient
) -> None:
    api, url = mailchimp_marketing_api
    member = json.dumps({"id": "abc"})
    api.results_override = results_archive(
        [{"status_code": 200, "operation_id": "1", "response": member}]
    )
    first, second = await mailchimp(url, http_client).sync_many([update(1), update(2)])
    assert isinstance(first, TransientProviderError)
    assert "no answer for this member" in str(first)
    assert isinstance(second, SendResult)
    assert second.provider_message_id == "abc"


def test_read_batch_results_reads_every_file() -> None:
    entries = [
        {"status_code": 200 + n % 2, "operation_id": str(n), "response": "{}"} for n in range(450)
    ]
    results = read_batch_results(results_archive(entries))  # three JSON files
    assert len(results) == 450
    assert results["449"].status_code == 201
    with pytest.raises(BatchResultsError, match="larger than 100 bytes"):
        read_batch_results(results_archive(entries), limit=100)


# --- ActiveCampaign --------------------------------------------------------------------------


async def test_activecampaign_imports_250_contacts_per_request(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    updates = [update(n, reward=f"{n} EUR") for n in range(600)]
    outcomes = await campaign(url, http_client).sync_many(updates)
    assert api.import_sizes == [250, 250, 100]
    assert all(isinstance(o, SendResult) and o.status == "sent" for o in outcomes)
    contact = api.contacts["member599@example.com"]
    assert contact["firstName"] == "Name599"
    assert api.values[(contact["id"], "12")] == "CODE-599"
    assert api.values[(contact["id"], "13")] == "599 EUR"
    [first, *_] = posted(api, "/api/3/import/bulk_import")
    assert first["contacts"][0] == {
        "email": "member0@example.com",
        "first_name": "Name0",
        "fields": [{"id": 12, "value": "CODE-0"}, {"id": 13, "value": "0 EUR"}],
    }


async def test_activecampaign_failed_addresses_go_to_their_own_update(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    updates = [update(n) for n in range(20)]
    updates[7] = update(7, email="invalid'character@example.com")
    outcomes = await campaign(url, http_client).sync_many(updates)
    assert isinstance(outcomes[7], PermanentProviderError)
    assert "did not import this contact" in str(outcomes[7])
    assert all(isinstance(o, SendResult) for i, o in enumerate(outcomes) if i != 7)
    assert "invalid'character@example.com" not in api.contacts


async def test_activecampaign_a_small_batch_uses_the_contacts_api(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    updates = [update(n) for n in range(3)] + [update(9, email="nope")]
    outcomes = await campaign(url, http_client).sync_many(updates)
    assert api.imports == {}
    assert len(posted(api, "/api/3/contact/sync")) == 4
    assert [type(o) for o in outcomes] == [SendResult] * 3 + [PermanentProviderError]
    contact_id = api.contacts["member2@example.com"]["id"]
    assert api.values[(contact_id, "12")] == "CODE-2"


async def test_activecampaign_429_fails_the_whole_call_and_stops(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    api.fail_next(status=429, headers={"Retry-After": "60"})
    outcomes = await campaign(url, http_client).sync_many([update(n) for n in range(300)])
    assert all(isinstance(o, TransientProviderError) and o.retry_after == 60.0 for o in outcomes)
    assert len(api.requests) == 1
    # The same on the per-contact path of a small batch.
    api.reset()
    api.fail_next(status=503)
    outcomes = await campaign(url, http_client).sync_many([update(n) for n in range(3)])
    assert all(isinstance(o, TransientProviderError) for o in outcomes)
    assert len(api.requests) == 1


async def test_activecampaign_waits_for_the_import_then_maps_it(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    api.polls_before_completed = 2  # `status: false`, then "active"
    outcomes = await campaign_fast(url, http_client).sync_many([update(n) for n in range(12)])
    assert all(isinstance(o, SendResult) for o in outcomes)
    infos = [r for r in api.requests if r.path == "/api/3/import/info"]
    assert len(infos) == 3
    api.reset()
    api.polls_before_completed = 1000
    outcomes = await campaign_fast(url, http_client).sync_many([update(n) for n in range(12)])
    assert all(isinstance(o, TransientProviderError) for o in outcomes)
    assert "not finished" in str(outcomes[0])


@pytest.mark.parametrize("status", ["failed", "interrupted"])
async def test_activecampaign_failed_import_is_transient(
    status: str, activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    api.import_status = status
    outcomes = await campaign(url, http_client).sync_many([update(n) for n in range(12)])
    assert all(isinstance(o, TransientProviderError) for o in outcomes)
    assert f"the bulk import {status}" in str(outcomes[0])


async def test_activecampaign_same_contact_twice_is_imported_in_order(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    updates = [update(n) for n in range(15)]
    updates.append(ProfileUpdate(id="again", email="member3@example.com", code="NEWER"))
    outcomes = await campaign(url, http_client).sync_many(updates)
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert api.import_sizes == [15]  # the repeat alone: through the contacts API, afterwards
    contact_id = api.contacts["member3@example.com"]["id"]
    assert api.values[(contact_id, "12")] == "NEWER"


async def test_activecampaign_seeded_faults_never_lose_an_update(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    api.fail_randomly(0.3, [Fault(429, b"", {}, None), Fault(502, b"", {}, None)], seed=5)
    updates = [update(n) for n in range(1000)]
    outcomes = await campaign_fast(url, http_client).sync_many(updates)
    assert len(outcomes) == 1000
    assert all(isinstance(o, SendResult | TransientProviderError) for o in outcomes)
    sent = {u.email for u, o in zip(updates, outcomes, strict=True) if isinstance(o, SendResult)}
    assert sent <= set(api.contacts)
    assert any(isinstance(o, TransientProviderError) for o in outcomes)


async def test_activecampaign_refused_import_is_permanent(
    activecampaign_api: tuple[FakeActiveCampaign, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    config = {"api_token": activecampaign.API_TOKEN, "base_url": url, "fields": {"12": "code"}}
    sync = build_sync("ac", "activecampaign", config, http_client=http_client)
    assert isinstance(sync, BatchSync)
    updates = [update(n) for n in range(12)]
    api.fail_next(status=400, body={"success": 0, "message": "Invalid contact data"})
    outcomes: list[SendResult | ProviderError] = await sync.sync_many(updates)
    assert all(isinstance(o, PermanentProviderError) and o.status_code == 400 for o in outcomes)
