"""Fake Twilio Programmable Messaging (2010-04-01 API): validates like the real one."""

from __future__ import annotations

import re
import secrets
from typing import Any

from .asgi import FakeApi, Recorded, Reply

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "twilio-auth-token-0123456789"
API_KEY_SID = "SK" + "b" * 32
API_KEY_SECRET = "twilio-api-key-secret-987654"
SERVICE_SID = "MG" + "c" * 32

# Twilio's magic test numbers (test credentials) and the errors they produce.
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
KNOWN_PARAMS = frozenset(
    [
        "To",
        "StatusCallback",
        "ApplicationSid",
        "MaxPrice",
        "ProvideFeedback",
        "Attempt",
        "ValidityPeriod",
        "ForceDelivery",
        "ContentRetention",
        "AddressRetention",
        "SmartEncoded",
        "PersistentAction",
        "TrafficType",
        "ShortenUrls",
        "ScheduleType",
        "SendAt",
        "SendAsMms",
        "ContentVariables",
        "RiskCheck",
        "From",
        "FallbackFrom",
        "MessagingServiceSid",
        "Body",
        "MediaUrl",
        "ContentSid",
    ]
)
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")
ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})\.json$")


def error(status: int, code: int, message: str) -> Reply:
    """The classic four-key 2010 API error body."""
    return Reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class FakeTwilio(FakeApi):
    """Accepts account SID + auth token or SK key + secret for ACCOUNT_SID."""

    def authorized(self, request: Recorded, sid: str) -> bool:
        pair = request.basic_auth()
        if pair is None or sid != ACCOUNT_SID:
            return False
        return pair in ((ACCOUNT_SID, AUTH_TOKEN), (API_KEY_SID, API_KEY_SECRET))

    def handle(self, request: Recorded) -> Reply:
        if m := ACCOUNT.match(request.path):
            if request.method != "GET":
                return error(405, 20004, "Method not allowed")
            if not self.authorized(request, m["sid"]):
                return error(401, 20003, "Authenticate")
            return Reply(200, {"sid": ACCOUNT_SID, "status": "active", "type": "Full"})
        m = MESSAGES.match(request.path)
        if m is None:
            return error(404, 20404, "The requested resource was not found")
        if request.method != "POST":
            return error(405, 20004, "Method not allowed")
        if not self.authorized(request, m["sid"]):
            return error(401, 20003, "Authenticate")
        content_type = request.headers.get("content-type", "")
        # A JSON body yields no form fields, which Twilio reports as a missing 'To'.
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return error(400, 21604, "A 'To' phone number is required.")
        form = request.form()
        names = [k for k, _ in form]
        unknown = sorted(set(names) - KNOWN_PARAMS)
        if unknown:
            # Twilio ignores unknown names; the fake refuses them to catch misspelt parameters.
            return error(400, 21000, f"fake: unknown parameters {unknown}")
        repeated = {k for k in names if names.count(k) > 1} - {"MediaUrl", "PersistentAction"}
        if repeated:
            return error(400, 21000, f"fake: repeated parameters {sorted(repeated)}")
        params = dict(form)
        to = params.get("To", "")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not (params.get("From") or params.get("MessagingServiceSid")):
            return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if not (params.get("Body") or params.get("MediaUrl") or params.get("ContentSid")):
            return error(400, 21602, "Message body is required.")
        if not E164.match(to):
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if len(params.get("Body", "")) > 1600:
            return error(400, 21617, "The concatenated message body exceeds the 1600 char limit")
        callback = params.get("StatusCallback")
        if callback is not None and (
            not re.match(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/|$)", callback)
        ):
            return error(400, 21609, "Invalid StatusCallback")
        if "SmartEncoded" in params and params["SmartEncoded"] not in ("true", "false"):
            return error(400, 21000, "SmartEncoded must be true or false")
        if to in MAGIC_TO:
            code, message = MAGIC_TO[to]
            return error(400, code, message)
        return Reply(201, self.message_resource(params))

    def message_resource(self, params: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        service = params.get("MessagingServiceSid")
        return {
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "body": params.get("Body"),
            "date_created": "Thu, 30 Jul 2015 20:12:31 +0000",
            "date_sent": None,
            "date_updated": "Thu, 30 Jul 2015 20:12:31 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": None if service else params.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "0" if service else "1",
            "price": None,
            "price_unit": None,
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"
            },
            "to": params["To"],
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
