"""Recipient contexts the corpus templates are rendered with."""

from __future__ import annotations

import copy
from typing import Any

from templates import sample_context

THEME = {"color": "#0a7cff", "accent": "#ff5a1f"}


def _brazil() -> dict[str, Any]:
    context = sample_context()
    context["theme"] = dict(THEME)
    return context


def _american_with_awkward_names() -> dict[str, Any]:
    context = _brazil()
    context["customer"].update(
        name="Mary O'Brien & <Co>",
        first_name='Mary "M" O\'Brien',
        locale="en-US",
        timezone="America/New_York",
        email="mary@example.com",
    )
    context["reward"].update(type="discount", amount=1000, currency="USD", description="$10 off")
    context["order"].update(
        currency="USD",
        amount=4497,
        items=[
            {"name": "Socks <3 pack>", "quantity": 3, "amount": 1499, "sku": "S-3"},
            {"name": "Hat & scarf", "quantity": 1, "amount": 1500, "sku": "H-1"},
            {"name": "Mug", "quantity": 2, "amount": 1498, "sku": "M-2"},
        ],
    )
    context["referrer"].update(first_name="", name="")
    context["theme"] = {"color": "#1b998b", "accent": "#c5283d"}
    return context


def _spanish_no_items() -> dict[str, Any]:
    context = _brazil()
    context["customer"].update(first_name="José", locale="es", timezone="Europe/Madrid")
    context["reward"].update(type="gift", amount=500, currency="EUR", description="A free tote bag")
    context["order"].update(items=[], amount=0, currency="EUR")
    context["code"].update(qr_url="")
    return context


CONTEXTS = {
    "pt-BR sample": _brazil,
    "en-US awkward names": _american_with_awkward_names,
    "es no items": _spanish_no_items,
}


def context(name: str) -> dict[str, Any]:
    """A fresh copy of a named context."""
    return copy.deepcopy(CONTEXTS[name]())
