"""The live state of templates as sends see it, cached per process until a template changes.

Publishing, restoring with publish and archiving call ``changed`` for the project (see
``distribution.accounts.project_cache``); a new draft or variant changes nothing a send can see.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session

from distribution.accounts.project_cache import CACHE, detached
from distribution.template_store.rendering import LiveTemplate, load_live_template

__all__ = ["cached_live_template"]


def _load_detached(session: Session, project_id: str, template_id: str) -> LiveTemplate:
    live = load_live_template(session, project_id, template_id)
    return LiveTemplate(
        detached(live.template),
        tuple(
            replace(c, template=(detached(c.template[0]), detached(c.template[1])))
            for c in live.candidates
        ),
        {
            variant_id: tuple((detached(version), weight) for version, weight in arms)
            for variant_id, arms in live.arms.items()
        },
    )


def cached_live_template(session: Session, project_id: str, template_id: str) -> LiveTemplate:
    """`load_live_template`, from the process cache when nothing changed since it was loaded.

    Raises:
        NotFoundError: No such template in the project (never cached).
    """
    return CACHE.get(
        project_id,
        ("live-template", project_id, template_id),
        lambda: _load_detached(session, project_id, template_id),
    )
