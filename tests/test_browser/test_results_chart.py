"""A campaign's results by day in Chromium: the chart and the table draw the API's figures."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import WAIT_MS, Console, Site, api_client, ok

pytestmark = pytest.mark.browser

BODY = "<p>Your code {{ code.code }}</p>"


def _campaign_with_results(site: Site) -> str:
    """A campaign whose distribution sent three codes, one of them redeemed."""
    tag = secrets.token_hex(3)
    with api_client(site) as client:
        campaign = ok(client.post("/v1/campaigns", json={"name": f"Chart {tag}"}))["id"]
        template = ok(
            client.post(
                "/v1/templates",
                json={
                    "name": f"Chart {tag}",
                    "channel": "email",
                    "category": "transactional",
                    "subject": "Code",
                    "body": BODY,
                    "body_format": "html",
                },
            )
        )
        draft = template["variants"][0]["latest_draft"]["id"]
        ok(client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": draft}))
        channels = [{"channel": "email", "template": template["id"], "provider": "capture"}]
        ok(
            client.post(
                "/v1/distributions",
                json={"name": f"Chart {tag}", "trigger": f"chart.{tag}", "channels": channels},
            )
        )
        ids = []
        for n in range(3):
            answer = ok(
                client.post(
                    "/v1/events",
                    json={
                        "type": f"chart.{tag}",
                        "customer": {
                            "source_id": f"chart-{tag}-{n}",
                            "email": f"c{n}-{tag}@example.com",
                        },
                        "campaign": {"id": campaign},
                        "code": {"code": f"CH-{tag}-{n}"},
                    },
                )
            )
            ids += [d["id"] for d in answer["deliveries"]]
        deadline = time.monotonic() + 20
        while {ok(client.get(f"/v1/messages/{i}"))["status"] for i in ids} != {"sent"}:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        redeemed = {"id": f"chart-{tag}", "amount": 2500, "currency": "EUR"}
        ok(
            client.post(
                "/v1/events",
                json={
                    "type": "code.redeemed",
                    "customer": {"source_id": f"buyer-{tag}"},
                    "code": f"CH-{tag}-0",
                    "order": redeemed,
                },
            )
        )
    return str(campaign)


def test_the_chart_and_the_table_show_the_api_s_figures(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    campaign = _campaign_with_results(site)
    with api_client(site) as client:
        days: list[dict[str, Any]] = ok(client.get(f"/v1/campaigns/{campaign}/stats/days"))
    tab.goto(f"{site.url}/campaigns/{campaign}")
    section = tab.locator(".day-results")
    expect(section.locator("[data-days] tbody tr")).to_have_count(len(days), timeout=WAIT_MS)
    row = section.locator("[data-days] tbody tr").last
    shown = ("messages", "queued", "sent", "bounced", "converted", "conversions", "unsubscribed")
    for field in shown:
        expect(row.locator(f"[data-field={field}]")).to_have_text(str(days[-1][field]))
    expect(row.locator("[data-field=revenue]")).to_contain_text("25.00")
    drawn = tab.evaluate("window.dmCharts['results-chart'].data")
    assert drawn[1:] == [[d[f] for d in days] for f in ("messages", "sent", "converted")]
    assert drawn[1][-1] == 3
    assert drawn[3][-1] == 1
    assert_accessible(tab, "a campaign's results by day")
    assert_fits(tab, "a campaign's results by day")
    assert not console.errors
