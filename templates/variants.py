"""Pick the variant of a message template for one recipient.

Resolution rules:

* A variant is keyed by (campaign_id, segment_id, locale); None in a key means "any".
* It is a candidate when its campaign is None or the recipient's campaign, its segment is None or
  one of the recipient's segments, and its locale is in the recipient's locale chain:
  `pt-BR` -> `pt` -> `default_locale` (if given) -> None. A variant in another language is never
  chosen: a Portuguese reader gets the Portuguese default before an English campaign variant.
* Among candidates the most specific targeting wins: campaign and segment, then campaign only,
  then segment only, then neither. Within the same targeting, the closest locale wins.
* Ties (the recipient is in several segments that each have a variant): the segment listed first
  in `segment_ids` wins, so callers pass segments in priority order; after that, the variant
  listed first wins. The result is therefore deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Variant", "ab_arm", "locale_chain", "resolve_variant"]

T = TypeVar("T")


@dataclass(frozen=True)
class Variant(Generic[T]):
    """One variant of a message template and what it targets (None = any)."""

    template: T
    campaign_id: str | None = None
    segment_id: str | None = None
    locale: str | None = None


def _normal(tag: str) -> str:
    return tag.replace("_", "-").lower()


def locale_chain(locale: str | None, default_locale: str | None = None) -> list[str | None]:
    """`pt-BR` -> ["pt-br", "pt", default, None] (normalised, without duplicates)."""
    chain: list[str | None] = []
    if locale:
        parts = _normal(locale).split("-")
        for size in range(len(parts), 0, -1):
            chain.append("-".join(parts[:size]))
    if default_locale:
        chain.extend(_normal(default_locale) for _ in [0] if _normal(default_locale) not in chain)
    chain.append(None)
    return chain


def resolve_variant(
    variants: Sequence[Variant[T]],
    *,
    campaign_id: str | None,
    segment_ids: Sequence[str],
    locale: str | None,
    default_locale: str | None = None,
) -> Variant[T] | None:
    """The most specific variant for a recipient, or None when no variant fits.

    Args:
        variants: All variants of the template.
        campaign_id: The campaign of the message, if any.
        segment_ids: The recipient's segments, in priority order (first wins a tie).
        locale: The recipient's locale, e.g. "pt-BR".
        default_locale: A locale acceptable for everyone, tried before locale-neutral variants.
    """
    chain = locale_chain(locale, default_locale)
    segment_rank = {segment: index for index, segment in reversed(list(enumerate(segment_ids)))}
    best: tuple[tuple[int, int, int, int], Variant[T]] | None = None
    for position, variant in enumerate(variants):
        if variant.campaign_id is not None and variant.campaign_id != campaign_id:
            continue
        if variant.segment_id is not None and variant.segment_id not in segment_rank:
            continue
        wanted = _normal(variant.locale) if variant.locale else None
        if wanted not in chain:
            continue
        targeting = 2 * (variant.campaign_id is not None) + (variant.segment_id is not None)
        segment_order = segment_rank[variant.segment_id] if variant.segment_id is not None else 0
        # Lower is better in every position of the key.
        key = (-targeting, chain.index(wanted), segment_order, position)
        if best is None or key < best[0]:
            best = (key, variant)
    return best[1] if best else None


def ab_arm(variant_id: str, customer_id: str, weights: Sequence[int]) -> int:
    """The arm of a variant's A/B test a customer gets (an index into `weights`).

    A hash of the pair, so a customer always gets the same arm of a test and no assignment is
    stored; over many customers each arm's share is its weight over the sum.
    """
    digest = hashlib.sha256(f"{variant_id}\x00{customer_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(weights)
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    raise AssertionError("unreachable: point < sum(weights)")
