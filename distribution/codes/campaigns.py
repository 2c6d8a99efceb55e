"""Campaigns: a name, a type, metadata and the template of their referral links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlmodel import Session

from distribution.errors import FieldError, InvalidInputError
from distribution.models import Campaign
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row, project_rows

__all__ = [
    "CAMPAIGN_TYPES",
    "CampaignSpec",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
    "referral_url",
]

CAMPAIGN_TYPES = ("referral", "promotion", "loyalty", "gift")
CODE_PLACEHOLDER = "{code}"


@dataclass(frozen=True)
class CampaignSpec:
    """What a new campaign is made of."""

    name: str
    type: str = "referral"
    description: str | None = None
    metadata: dict[str, Any] | None = None
    referral_url_template: str | None = None


def _check(spec: CampaignSpec) -> list[FieldError]:
    errors = []
    if not spec.name.strip() or len(spec.name) > 200:
        errors.append(FieldError("name", "must be 1-200 characters"))
    if spec.type not in CAMPAIGN_TYPES:
        errors.append(FieldError("type", f"must be one of {', '.join(CAMPAIGN_TYPES)}"))
    template = spec.referral_url_template
    if template is not None:
        if not template.startswith(("https://", "http://")) or len(template) > 2000:
            errors.append(FieldError("referral_url_template", "must be an http(s) URL"))
        elif CODE_PLACEHOLDER not in template:
            errors.append(FieldError("referral_url_template", "must contain {code}"))
    return errors


def create_campaign(session: Session, project_id: str, spec: CampaignSpec) -> Campaign:
    """Create a campaign; a duplicate name is a ConflictError."""
    errors = _check(spec)
    if errors:
        raise InvalidInputError(errors)
    campaign = Campaign(
        id=new_id("camp"),
        project_id=project_id,
        name=spec.name.strip(),
        type=spec.type,
        description=spec.description,
        meta=dict(spec.metadata or {}),
        referral_url_template=spec.referral_url_template,
    )
    session.add(campaign)
    flush_or_conflict(session, f"a campaign named {campaign.name!r} already exists")
    return campaign


def get_campaign(session: Session, project_id: str, campaign_id: str) -> Campaign:
    """A campaign of the project (by id)."""
    return project_row(session, Campaign, project_id, campaign_id, "campaign")


def list_campaigns(session: Session, project_id: str) -> list[Campaign]:
    """Every campaign of the project, oldest first."""
    return project_rows(session, Campaign, project_id)


def referral_url(template: str | None, code: str) -> str | None:
    """The campaign's referral link for ``code`` (URL-escaped), or None without a template."""
    if not template:
        return None
    return template.replace(CODE_PLACEHOLDER, quote(code, safe=""))
