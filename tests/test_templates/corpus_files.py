"""The corpus of realistic templates, as sources (shared by the fast-path and skeleton tests)."""

from __future__ import annotations

from pathlib import Path

from templates import EmailSource

CORPUS = sorted((Path(__file__).parent / "corpus").iterdir())
SUBJECT = "{{ customer.first_name }}, {{ reward.amount | money(reward.currency) }} for you"


def source_of(path: Path) -> EmailSource:
    body_format = "mjml" if path.suffix == ".mjml" else "html"
    return EmailSource(subject=SUBJECT, body=path.read_text(), body_format=body_format)
