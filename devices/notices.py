"""Mail to the people who hold devices, about what happened to them."""

from __future__ import annotations

from companies.models import User
from notifications.services import Message, notify_many

from .engine import Outcome


def owners_notify(outcomes: list[Outcome], kind: str, note: str = "") -> None:
    """E-mail the owners of the devices these outcomes moved, one message each (one query
    for the owners, one INSERT), keyed by the change so a retry sends nothing twice."""
    moved = [o.device for o in outcomes if o.changed]
    if not moved:
        return
    owners = {u.pk: u for u in User.objects.filter(pk__in={d.owner_id for d in moved})}
    notify_many(
        [
            Message(
                kind=kind,
                recipient=owners[d.owner_id],
                context={"device": d, "note": note},
                dedup_key=f"{kind}:{d.pk}:{d.status_changed_at.isoformat()}",
            )
            for d in moved
        ]
    )
