"""Leasing: a lease per leased device, with its financier, dates and prices."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from velory.tenancy import TenantQuerySet, TenantScope, by_company, by_partner, by_user


class LeaseQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("device__company"),
        employee=by_user("device__owner"),
        partner_staff=by_partner("partner"),
    )

    def open(self):
        return self.filter(status=Lease.Status.ACTIVE)


class Lease(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    device = models.OneToOneField("devices.Device", on_delete=models.PROTECT, related_name="lease")
    leasing_company = models.ForeignKey(
        "companies.LeasingCompany", on_delete=models.PROTECT, related_name="leases"
    )
    partner = models.ForeignKey(
        "companies.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="leases"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(db_index=True)
    monthly_price = models.DecimalField(max_digits=12, decimal_places=2)
    buyout_price = models.DecimalField(
        "residual / buyout price", max_digits=12, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LeaseQuerySet.as_manager()

    class Meta:
        ordering = ["ends_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gt=models.F("starts_on")), name="lease_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"Lease of {self.device} until {self.ends_on:%d %b %Y}"
