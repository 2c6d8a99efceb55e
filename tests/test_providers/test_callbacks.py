"""Inbound status callbacks: signatures (published vectors, tampering) and event parsing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from providers import standard_webhooks
from providers.delivery_events import (
    parse_bounce_webhook,
    parse_mandrill_events,
    parse_twilio_status_callback,
)
from providers.signatures import (
    verify_bounce_webhook,
    verify_mandrill_signature,
    verify_twilio_signature,
)

from .fakes.webhook_receiver import SECRET

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_twilio_published_vector() -> None:
    assert verify_twilio_signature(URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TOKEN)


def test_twilio_port_quirk_both_ways() -> None:
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert verify_twilio_signature(with_port, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TOKEN)
    assert verify_twilio_signature(URL, PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=", TOKEN)
    http = "http://mycompany.com/myapp.php?foo=1&bar=2"
    assert verify_twilio_signature(http, PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=", TOKEN)


def test_twilio_repeated_keys_vector() -> None:
    params = {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234", "1234"]}
    assert verify_twilio_signature(URL, params, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", TOKEN)


def test_twilio_tampered_or_wrong_key() -> None:
    signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert not verify_twilio_signature(URL, {**PARAMS, "Digits": "9999"}, signature, TOKEN)
    assert not verify_twilio_signature(URL, PARAMS, signature, "54321")
    assert not verify_twilio_signature(URL + "&x=1", PARAMS, signature, TOKEN)
    assert not verify_twilio_signature(URL, PARAMS, "", TOKEN)


def test_twilio_json_body_uses_body_sha256() -> None:
    body = b'{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body).hexdigest()
    url = f"https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={digest}"
    signature = base64.b64encode(
        hmac.new(TOKEN.encode(), url.encode(), hashlib.sha1).digest()
    ).decode()
    assert verify_twilio_signature(url, {}, signature, TOKEN, body=body)
    assert not verify_twilio_signature(url, {}, signature, TOKEN, body=body + b" ")


MANDRILL_KEY = "TEST_WEBHOOK_KEY"
MANDRILL_URL = "https://example.com/webhooks/mandrill"
MANDRILL_EVENTS = (
    '[{"event": "send", "_id": "abc", "ts": 1461095246, "msg": {"email": "r@example.com"}}]'
)


def test_mandrill_published_vector_and_tampering() -> None:
    params = {"mandrill_events": MANDRILL_EVENTS}
    good = "ECRaQrUpBS4O0St8auosSqBqJF4="
    assert verify_mandrill_signature(MANDRILL_URL, params, good, MANDRILL_KEY)
    assert not verify_mandrill_signature(MANDRILL_URL + "/", params, good, MANDRILL_KEY)
    tampered = {"mandrill_events": MANDRILL_EVENTS.replace("send", "open")}
    assert not verify_mandrill_signature(MANDRILL_URL, tampered, good, MANDRILL_KEY)
    assert not verify_mandrill_signature(MANDRILL_URL, params, good, "OTHER_KEY")


def test_mandrill_events_are_normalized() -> None:
    events = parse_mandrill_events(
        json.dumps(
            [
                {"event": "send", "_id": "a1", "ts": 1461095246, "msg": {"email": "r@e.com"}},
                {
                    "event": "hard_bounce",
                    "_id": "a2",
                    "ts": 1384954004,
                    "msg": {
                        "email": "example.webhook@mandrillapp.com",
                        "bounce_description": "bad_mailbox",
                        "diag": "smtp;550 5.1.1 The email account does not exist.",
                    },
                },
                {"event": "spam", "_id": "a3", "ts": 1, "msg": {"email": "c@e.com"}},
                {"event": "unsub", "_id": "a4", "ts": 1, "msg": {"email": "u@e.com"}},
                {"event": "deferral", "_id": "a5", "ts": 1, "msg": {}},
                {"type": "blacklist", "action": "add", "reject": {"email": "b@e.com"}},
            ]
        )
    )
    assert [e.type for e in events] == [
        "sent",
        "bounced",
        "complained",
        "unsubscribed",
        "deferred",
        "unknown",
    ]
    bounce = events[1]
    assert bounce.provider_message_id == "a2"
    assert bounce.recipient == "example.webhook@mandrillapp.com"
    assert bounce.reason == "bad_mailbox"
    assert bounce.description is not None
    assert bounce.description.startswith("smtp;550")
    assert bounce.timestamp == datetime.fromtimestamp(1384954004, UTC)
    assert events[5].recipient == "b@e.com"


def test_twilio_callbacks_are_normalized() -> None:
    base = {"MessageSid": "SM1342fe1b2c904d1ab04f0fc7a58abca9", "To": "+15558675310"}
    cases = {
        "queued": "queued",
        "sent": "sent",
        "delivered": "delivered",
        "undelivered": "bounced",
        "failed": "failed",
        "read": "opened",
        "mystery": "unknown",
    }
    for status, expected in cases.items():
        event = parse_twilio_status_callback({**base, "MessageStatus": status})
        assert event.type == expected
        assert event.provider_message_id == base["MessageSid"]
    stop = parse_twilio_status_callback(
        {**base, "MessageStatus": "failed", "ErrorCode": "21610", "RawDlrDoneDate": "2407101530"}
    )
    assert stop.type == "unsubscribed"
    assert stop.reason == "21610"
    assert stop.timestamp == datetime(2024, 7, 10, 15, 30, tzinfo=UTC)


def _signed(body: bytes, ts: int, msg_id: str = "evt_1") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_webhooks.sign(SECRET, msg_id, ts, body),
    }


def test_bounce_webhook_verify_and_parse() -> None:
    body = json.dumps(
        {
            "type": "email.bounced",
            "timestamp": "2026-01-05T10:00:00+00:00",
            "data": {
                "message_id": "<dlv_1@example.com>",
                "recipient": "bad@example.com",
                "bounce_type": "hard",
                "diagnostic": "550 5.1.1 User unknown",
            },
        }
    ).encode()
    ts = 1_767_607_200
    headers = _signed(body, ts)
    assert verify_bounce_webhook(SECRET, headers, body, now=ts + 60)
    assert not verify_bounce_webhook(SECRET, headers, body + b" ", now=ts)
    assert not verify_bounce_webhook(SECRET, headers, body, now=ts + 3600)
    assert not verify_bounce_webhook("whsec_" + "D" * 32, headers, body, now=ts)
    (event,) = parse_bounce_webhook(body)
    assert event.type == "bounced"
    assert event.provider_message_id == "<dlv_1@example.com>"
    assert event.reason == "hard"
    assert event.description == "550 5.1.1 User unknown"
    soft = json.loads(body)
    soft["data"]["bounce_type"] = "soft"
    assert parse_bounce_webhook(json.dumps(soft).encode())[0].type == "deferred"
