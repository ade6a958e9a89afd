"""The e-mail adapter: for partners without an API. The order goes to the partner's order
desk as an e-mail through the outbox; there is no tracking, so employees follow the order
by the statuses the partner sets in the admin."""

from __future__ import annotations

from django.db import transaction

from notifications.services import notify

from .base import AdapterError, FetchResult, Placement


class EmailDistributor:
    tracks = False

    def __init__(self, partner):
        self.partner = partner
        self.name = partner.name

    def place_order(self, order) -> Placement:
        with transaction.atomic():
            notify(
                kind="order_new_partner",
                to_email=self.partner.support_email,
                context={"order": order, "lines": order.lines.all(), "partner": self.partner},
                dedup_key=f"order_new_partner:{order.pk}",
            )
        return Placement(partner_ref="", created=True)

    def fetch_updates(self, order_pks: list[int]) -> FetchResult:
        raise AdapterError(f"{self.name} has no tracking API.", retryable=False)
