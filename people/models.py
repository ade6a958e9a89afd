"""The people lifecycle of a company: the tokens its directory provisions with (SCIM), the
CSV imports of companies without one, and the offboarding case of each leaver with one item
per device they hold."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from core.issued import IssuedSecret
from core.tenancy import TenantQuerySet, TenantScope, by_company, by_user


class ScimTokenQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"))

    def live(self):
        return self.filter(revoked_at__isnull=True)


class ScimToken(IssuedSecret):
    """A bearer token the company's directory (Microsoft Entra, Okta) provisions with. Only
    its SHA-256 is stored: the token is shown once, when it is made, and never again."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.CASCADE, related_name="scim_tokens"
    )
    name = models.CharField(max_length=100, help_text=_("Where it is used, e.g. Microsoft Entra."))
    token_hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = ScimTokenQuerySet.as_manager()

    class Meta(IssuedSecret.Meta):
        verbose_name = _("SCIM token")


class CsvImportQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"))


class CsvImport(models.Model):
    """One upload of a company's people as CSV: previewed first (what would be created,
    changed and deactivated, with the rows in error), applied only when confirmed, once."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", _("Previewed")
        APPLIED = "applied", _("Applied")

    company = models.ForeignKey(
        "companies.Company", on_delete=models.CASCADE, related_name="csv_imports"
    )
    file_name = models.CharField(max_length=200)
    content = models.TextField(help_text=_("The file as uploaded."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEWED)
    plan = models.JSONField(default=dict, help_text=_("The preview: one entry per row."))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    objects = CsvImportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("CSV import")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"


class CaseQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"), employee=by_user("employee"))

    def open(self):
        return self.filter(status=OffboardingCase.Status.OPEN)


class OffboardingCase(models.Model):
    """A leaver's hardware, collected or bought out by their exit date: one item per device
    they hold. Chasers go on a schedule, the company admin is told when it runs late, and
    the case closes when every item is settled; then the account is deactivated. The case,
    its items and its mail stay."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    company = models.ForeignKey(
        "companies.Company", on_delete=models.PROTECT, related_name="offboarding_cases"
    )
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offboarding_cases"
    )
    exit_date = models.DateField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.CharField(max_length=200, help_text=_("Who or what set the exit date."))
    # The chasers sent, by days before the exit date (7, 3; -1 is the day after it): each once.
    chasers_sent = models.JSONField(default=list, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["exit_date", "pk"]
        verbose_name = _("offboarding case")
        constraints = [
            models.UniqueConstraint(
                fields=["employee"],
                condition=Q(status="open"),
                name="one_open_case_per_employee",
            )
        ]

    def __str__(self) -> str:
        # Translators: the title of a leaver's offboarding case in the console: the person's
        # name and their exit date (YYYY-MM-DD).
        return gettext("Offboarding %(employee)s (%(exit_date)s)") % {
            "employee": self.employee,
            "exit_date": f"{self.exit_date:%Y-%m-%d}",
        }

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class ItemQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("case__company"), employee=by_user("case__employee")
    )


class OffboardingItem(models.Model):
    """One device of a leaver, and how it ends: returned (and confirmed by the partner),
    bought out (and paid), or written off with a reason (and, for a leased device, the
    lessor's settlement)."""

    class Choice(models.TextChoices):
        RETURN = "return", _("Return it")
        BUYOUT = "buyout", _("Buy it")

    class Outcome(models.TextChoices):
        RETURNED = "returned", _("Returned")
        BOUGHT_OUT = "bought_out", _("Bought out")
        WRITTEN_OFF = "written_off", _("Written off")

    case = models.ForeignKey(OffboardingCase, on_delete=models.CASCADE, related_name="items")
    device = models.ForeignKey(
        "devices.Device", on_delete=models.PROTECT, related_name="offboarding_items"
    )
    choice = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    chosen_at = models.DateTimeField(null=True, blank=True)
    # The buyout price on the exit date, as shown before the choice (and charged).
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text=_("Why it was written off."))
    settlement_amount = models.DecimalField(
        _("lessor's settlement"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    payroll_exported_at = models.DateTimeField(
        null=True, blank=True, help_text=_("A salary deduction handed to payroll (exported).")
    )
    # An owned device bought out by card: the payment (a leased one's is its lease's buyout).
    payment = models.OneToOneField(
        "budgets.CardPayment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="offboarding_item",
    )

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        verbose_name = _("offboarding item")
        constraints = [
            models.UniqueConstraint(fields=["case", "device"], name="one_item_per_device")
        ]

    def __str__(self) -> str:
        # Translators: an offboarding item not settled yet, after the device's name.
        outcome = self.get_outcome_display() or pgettext("offboarding item", "open")
        return f"{self.device} ({outcome})"

    @property
    def settled(self) -> bool:
        return bool(self.outcome)

    @property
    def employee_id(self) -> int:
        """Whose item it is: the leaver's."""
        return self.case.employee_id


class AttestationQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"), employee=by_user("employee"))

    def open(self):
        return self.filter(answered_at__isnull=True)


class Attestation(models.Model):
    """“Do you still have these devices?”, asked of an employee every few months where the
    company wants it, and answered in one click on Your Details (yes, or a device reported
    lost, stolen or broken)."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.CASCADE, related_name="attestations"
    )
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attestations"
    )
    asked_on = models.DateField()
    due_on = models.DateField()
    answered_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.JSONField(default=list, blank=True)
    problems = models.PositiveSmallIntegerField(default=0, help_text=_("Devices reported."))

    objects = AttestationQuerySet.as_manager()

    class Meta:
        ordering = ["-asked_on", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["employee"],
                condition=Q(answered_at__isnull=True),
                name="one_open_attestation_per_employee",
            )
        ]

    def __str__(self) -> str:
        return f"{self.employee} ({self.asked_on:%Y-%m-%d})"


class AttestationAnswer(models.Model):
    class Answer(models.TextChoices):
        HAVE = "have", _("I have it")
        LOST = "lost", _("Lost")
        STOLEN = "stolen", _("Stolen")
        BROKEN = "broken", _("Broken")

    attestation = models.ForeignKey(Attestation, on_delete=models.CASCADE, related_name="answers")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="+")
    answer = models.CharField(max_length=10, choices=Answer.choices)
    note = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attestation", "device"], name="one_answer_per_device")
        ]

    def __str__(self) -> str:
        return f"{self.device}: {self.get_answer_display()}"
