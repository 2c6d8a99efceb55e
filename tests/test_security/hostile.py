"""A few hostile templates for the isolation tests (until the shared hostile corpus lands):
(id, source fields, what it attacks)."""

from __future__ import annotations

import re

#: What an error about a broken limit says (the pool's, or the sandbox's own time budget).
NAMES_A_LIMIT = re.compile(r"within the limits|too long|too deep|too large")

DEEP_MJML = (
    "<mjml><mj-body>{% for i in range(3000) %}<mj-wrapper>{% endfor %}x"
    "{% for i in range(3000) %}</mj-wrapper>{% endfor %}</mj-body></mjml>"
)

HOSTILE_EMAIL_TEMPLATES: list[tuple[str, dict[str, str], str]] = [
    (
        "deep-mjml",
        {"subject": "Hi", "body": DEEP_MJML},
        "3000 nested mj-wrapper elements overflow the MJML library's stack (segfault)",
    ),
    (
        "cpu-burner",
        {
            "subject": "Hi",
            "body": "<mjml><mj-body><mj-text>"
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
            "</mj-text></mj-body></mjml>",
        },
        "loops that produce nothing but burn CPU until the time limit",
    ),
]
