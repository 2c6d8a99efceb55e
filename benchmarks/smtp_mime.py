"""Benchmark: building one SMTP message's bytes, the former `EmailMessage` builder vs the new one.

Run: .venv/bin/python benchmarks/smtp_mime.py [--messages 2000] [--rounds 3]

Times, in CPU time per message (the machine is shared), `build_mime(...)` plus serialisation to
bytes for a bulk invite (subject, text, ~2 KB of HTML, a To name, List-Unsubscribe headers, a
custom header) in two versions: ASCII, and with non-ASCII names, subject and bodies. "email" is
the former builder (`EmailMessage(policy=policy.SMTP)`, `set_content`, `add_alternative`,
`as_bytes`), kept in tests/test_providers/mime_reference.py; "direct" is
`providers.smtp_mime.build_mime`. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from providers.message import Message  # noqa: E402
from providers.smtp_mime import build_mime  # noqa: E402
from tests.test_providers.mime_reference import reference_build_mime  # noqa: E402

SETTINGS: dict[str, Any] = {
    "from_email": "rewards@example.com",
    "from_name": "Acme Rewards",
    "reply_to": "help@example.com",
    "message_id_domain": "example.com",
    "unsubscribe_mailto": "unsub@example.com",
}
ROW = (
    '<tr><td align="left" style="font-family:Helvetica,Arial,sans-serif;font-size:15px;'
    'line-height:22px;color:#333333;padding:10px 25px;">{line}</td></tr>\n'
)


def invite(non_ascii: bool) -> Message:
    """A bulk invite as the renderer makes one: ~2 KB of table HTML, its text version."""
    name, greeting, amount = ("Alice Example", "Hi Alice!", "$10")
    if non_ascii:
        name, greeting, amount = ("Jörg Müller", "Grüße, Jörg!", "10 €")
    lines = [
        greeting,
        f"Give your friends {amount} off their first order and earn {amount} for each of them.",
        "Your code is <b>WELCOME-42</b>; share it or send your link:",
        '<a href="https://shop.example.com/r/WELCOME-42?utm_source=email">Share my link</a>',
        "It expires on 31 December 2026.",
        "How it works: share your link, your friend orders, you both get rewarded.",
    ]
    html = "<html><body><table>\n" + "".join(ROW.format(line=line) for line in lines * 2)
    html += "</table></body></html>\n"
    text = "\n".join(line.replace("<b>", "").replace("</b>", "") for line in lines)
    return Message(
        id="dlv_01HZX3J9K8M2N4P6Q8R0S2T4V6",
        channel="email",
        to="jorg@example.com" if non_ascii else "alice@example.com",
        to_name=name,
        subject=f"{name}, give {amount} and get {amount}: a gift for your friends",
        text=text,
        html=html,
        headers={"X-Campaign": "spring-invite"},
        marketing=True,
        unsubscribe_url="https://example.com/u/eyJjIjoiY3VzXzAxIiwicCI6InByal8wMSJ9.c2ln",
    )


def former_bytes(message: Message) -> bytes:
    return reference_build_mime(message, **SETTINGS).as_bytes()


def direct_bytes(message: Message) -> bytes:
    return build_mime(message, **SETTINGS).data


def cpu_us_per_call(
    build: Callable[[Message], bytes], message: Message, count: int, rounds: int
) -> float:
    """The best round's CPU time per call: the least disturbed by the other processes."""
    build(message)  # warm caches (regexes, charsets) outside the timing
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            build(message)
        best = min(best, time.process_time() - start)
    return best / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one counts")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for label, message in (("ascii", invite(False)), ("non_ascii", invite(True))):
        size = len(direct_bytes(message))
        print(f"{label}: {size} bytes, HTML {len(message.html or '')} characters")
        # The former builder is ~50x slower: a twentieth of the messages times it as well.
        former = cpu_us_per_call(former_bytes, message, max(args.messages // 20, 10), args.rounds)
        new = cpu_us_per_call(direct_bytes, message, args.messages, args.rounds)
        figures[f"{label}_email_us"] = round(former, 1)
        figures[f"{label}_direct_us"] = round(new, 1)
        figures[f"{label}_ratio"] = round(former / new, 1)
        print(f"  email package {former:8.1f} us/message CPU")
        print(f"  direct        {new:8.1f} us/message CPU   ({former / new:.0f}x less)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
