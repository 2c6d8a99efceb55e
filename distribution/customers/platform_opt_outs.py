"""Opt-outs a platform reports about an address, not about a message we sent (a Mailchimp
audience or ActiveCampaign unsubscribe webhook, Braze's list of email unsubscribes): the
address is suppressed for email here, on the customer who has it when there is one."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, select

from distribution.customers.consent import suppress
from distribution.models import Customer

__all__ = ["suppress_reported_opt_outs"]


def suppress_reported_opt_outs(
    session: Session, project_id: str, provider_name: str, addresses: Iterable[str]
) -> int:
    """Suppress email to each address (and so to its customer); how many addresses."""
    count = 0
    for address in {a.strip().lower() for a in addresses if a and a.strip()}:
        customer_id = session.exec(
            select(Customer.id)
            .where(
                Customer.project_id == project_id,
                func.lower(Customer.email) == address,
                col(Customer.erased_at).is_(None),
            )
            .order_by(col(Customer.id))
            .limit(1)
        ).first()
        suppress(
            session,
            project_id,
            "email",
            address,
            customer_id=customer_id,
            reason=f"unsubscribed at {provider_name}",
        )
        count += 1
    return count
