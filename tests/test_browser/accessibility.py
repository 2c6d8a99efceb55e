"""axe-core in the page: every page of the UI, in each state a test puts it in, at 1440 px and
390 px, with no serious or critical violation.

axe-core comes from the ``axe-playwright-python`` test dependency (its bundled ``axe.min.js``);
it is evaluated in the page through the DevTools protocol, which the page's CSP does not govern.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import axe_playwright_python
from playwright.sync_api import Page

__all__ = ["FIT_WIDTHS", "WIDTHS", "assert_accessible", "assert_fits", "axe_violations"]

#: The widths every page is checked at: a laptop and a phone.
WIDTHS = (1440, 390)
#: The widths at which no page may scroll sideways: a small laptop and a phone.
FIT_WIDTHS = (1024, 390)
_AXE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
_BLOCKING = ("serious", "critical")
#: The innermost elements that stick out of the window on the right, to name in a failure.
_OVERFLOWING = """[...document.querySelectorAll("body *")]
  .filter((n) => n.getBoundingClientRect().right > innerWidth + 1 && n.checkVisibility())
  .filter((n) => ![...n.children].some((c) => c.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 5)
  .map((n) => `${n.tagName.toLowerCase()}${n.id ? "#" + n.id : ""}.${[...n.classList].join(".")}`
    + ` (${Math.round(n.getBoundingClientRect().right)} px)`)"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations axe-core finds in the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_AXE)
    results: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v.get("impact") in _BLOCKING]


def assert_accessible(page: Page, what: str) -> None:
    """Fail with each violation and the elements it names, at every width of ``WIDTHS``
    (the viewport is put back afterwards)."""
    size = page.viewport_size or {"width": 1440, "height": 900}
    found: list[str] = []
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": size["height"]})
            for violation in axe_violations(page):
                targets = [" ".join(map(str, n["target"])) for n in violation["nodes"][:5]]
                found.append(
                    f"{what} at {width} px: {violation['id']} ({violation['impact']}): "
                    f"{violation['help']} -> {targets}"
                )
    finally:
        page.set_viewport_size(size)
    assert not found, "\n".join(found)


def assert_fits(page: Page, what: str) -> None:
    """At each of ``FIT_WIDTHS`` the page is no wider than the window (wide tables scroll
    inside their own box); the viewport is put back afterwards."""
    size = page.viewport_size or {"width": 1440, "height": 900}
    try:
        for width in FIT_WIDTHS:
            page.set_viewport_size({"width": width, "height": size["height"]})
            wide, window = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            assert wide <= window, (
                f"{what} scrolls sideways at {width} px ({wide} px wide): "
                f"{page.evaluate(_OVERFLOWING)}"
            )
    finally:
        page.set_viewport_size(size)
