"""Tenants and people: companies (the customers), partners (resellers/distributors who ship
the hardware), leasing companies, and users with their role."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.crypto import decrypt, encrypt
from core.tenancy import Role, TenantQuerySet, TenantScope, by_company, by_partner, by_user


def valid_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(gettext("Enter a time zone such as Europe/Stockholm."))


class Currency(models.TextChoices):
    EUR = "EUR", "EUR"
    SEK = "SEK", "SEK"
    NOK = "NOK", "NOK"
    DKK = "DKK", "DKK"
    GBP = "GBP", "GBP"
    USD = "USD", "USD"


class LeasingCompanyQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("companies", many=True),
        employee=by_company("companies", many=True),
        partner_staff=by_partner("companies__partners", many=True),
    )


class LeasingCompany(models.Model):
    """A financier of leased hardware (e.g. "Nordic Lease")."""

    name = models.CharField(max_length=120, unique=True)
    contact_email = models.EmailField()
    contact_phone = models.CharField(max_length=40, blank=True)
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LeasingCompanyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("leasing companies")

    def __str__(self) -> str:
        return self.name


class CompanyQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("pk"),
        employee=by_company("pk"),
        partner_staff=by_partner("partners"),
    )


class Company(models.Model):
    """A customer of Velory and the tenant its employees, budgets and hardware belong to.

    The policy fields are the company's settings that the help article refers to: whether a
    delivered device counts as received without the employee's click, and whether employees
    may buy out their leased devices."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    default_language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,  # empty: each person's browser decides
        help_text=_("The language of pages and e-mails for people who have not chosen their own."),
    )
    time_zone = models.CharField(
        max_length=64,
        default=settings.TIME_ZONE,
        validators=[valid_time_zone],
        help_text=_("Dates and times on pages and in e-mails are shown in this time zone."),
    )
    auto_receive_on_delivery = models.BooleanField(
        _("auto-receive on delivery"),
        default=False,
        help_text=_(
            "A device the carrier reports delivered becomes Received without the "
            "employee marking it."
        ),
    )
    buyout_allowed = models.BooleanField(
        _("buyout allowed"),
        default=False,
        help_text=_("Employees may buy out their leased devices instead of returning them."),
    )
    buyout_payment = models.CharField(
        _("buyouts are paid by"),
        max_length=10,
        choices=[
            ("card", _("The employee's card")),
            ("salary", _("Salary deduction (payroll)")),
        ],
        default="card",
        help_text=_("How an employee pays for a device they buy out."),
    )
    card_payments_allowed = models.BooleanField(
        _("card top-up allowed"),
        default=False,
        help_text=_(
            "An employee may pay the part of a request over their budget with their own card."
        ),
    )
    support_name = models.CharField(
        _("IT support contact"),
        max_length=120,
        blank=True,
        help_text=_("Shown on the Support page."),
    )
    support_email = models.EmailField(_("IT support e-mail"), blank=True)
    support_phone = models.CharField(_("IT support phone"), max_length=40, blank=True)
    leasing_company = models.ForeignKey(
        LeasingCompany,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="companies",
        help_text=_("Finances this company's leased hardware."),
    )
    # Receipt: reminders go 2 and 5 days after delivery; this closes the loop.
    auto_receive_after_days = models.PositiveSmallIntegerField(
        _("auto-receive after (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text=_(
            "A delivered device the employee has not marked received becomes Received "
            "this many days after delivery (recorded as done by the system). Empty: never."
        ),
    )
    return_grace_days = models.PositiveSmallIntegerField(
        _("days to return a device"),
        default=14,
        validators=[MinValueValidator(0), MaxValueValidator(120)],
        help_text=_(
            "After a lease ends, after a leaver's exit date or after a leased "
            "replacement is delivered, the employee has this many days to send the old device."
        ),
    )
    attestation_months = models.PositiveSmallIntegerField(
        _("ask employees to confirm their devices every (months)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text=_(
            "Employees answer “Do you still have these devices?” on Your Details. Empty: never."
        ),
    )
    # Depreciation: what a company-owned device is worth on a day (a leaver's buyout).
    useful_life_months = models.PositiveSmallIntegerField(
        _("useful life (months)"),
        default=36,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=_("Owned devices lose value in a straight line over this many months."),
    )
    depreciation_floor_percent = models.DecimalField(
        # xgettext:no-python-format
        _("lowest value (% of the price)"),
        max_digits=5,
        decimal_places=2,
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("An owned device is never worth less than this share of its price."),
    )
    # Single sign-on (OpenID Connect): configured by a superuser or the company admin.
    sso_issuer = models.URLField(
        _("identity provider (issuer URL)"),
        blank=True,
        help_text=_(
            "The OpenID Connect issuer, e.g. https://login.microsoftonline.com/…/v2.0. "
            "Empty: no single sign-on."
        ),
    )
    sso_client_id = models.CharField(_("client ID"), max_length=255, blank=True)
    sso_client_secret_encrypted = models.TextField(blank=True, editable=False)
    sso_domains = models.CharField(
        _("e-mail domains"),
        max_length=500,
        blank=True,
        help_text=_(
            "Comma-separated: people whose address ends in one of these sign in with "
            "the identity provider."
        ),
    )
    sso_password_allowed = models.BooleanField(
        _("password sign-in still allowed"),
        default=True,
        help_text=_("Off: people of this company sign in only through the identity provider."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("companies")

    def __str__(self) -> str:
        return self.name

    @property
    def sso_enabled(self) -> bool:
        return bool(self.sso_issuer and self.sso_client_id)

    @property
    def sso_domain_list(self) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in self.sso_domains.split(",") if d.strip()]

    def decrypted_sso_client_secret(self) -> str:
        return decrypt(self.sso_client_secret_encrypted)

    def set_sso_client_secret(self, raw: str) -> None:
        self.sso_client_secret_encrypted = encrypt(raw) if raw else ""


class PartnerQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("companies", many=True),
        employee=by_company("companies", many=True),
        partner_staff=by_partner("pk"),
    )


class Partner(models.Model):
    """A reseller or distributor that prepares and ships hardware for the companies it
    serves. Its staff work in the admin; only partners with a tracking API give employees a
    carrier and tracking number."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    support_email = models.EmailField()
    support_phone = models.CharField(max_length=40, blank=True)
    website = models.URLField(blank=True)
    offers_tracking = models.BooleanField(
        default=False,
        help_text=_(
            "The partner reports carrier and tracking numbers (Track Order). Without "
            "it, employees follow their orders by status markings only."
        ),
    )
    companies = models.ManyToManyField(Company, related_name="partners", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PartnerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_user("pk"),
        partner_staff=by_partner("partner"),
    )

    def company_admins(self, company_id=None):
        """Active company admins (of one company when given): who hears of approvals,
        failed orders, lease ends and overdue returns."""
        admins = self.filter(role=Role.COMPANY_ADMIN, is_active=True, company__isnull=False)
        return admins if company_id is None else admins.filter(company_id=company_id)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_superuser=True, is_staff=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with their e-mail address.

    Employees and company admins belong to one company; partner staff belong to one partner
    and see the companies it serves. ``is_staff`` (access to /admin/) follows the role and is
    set by the services, never by hand."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.EMPLOYEE)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    job_title = models.CharField(max_length=120, blank=True)
    language = models.CharField(
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Pages and e-mails in this language. Empty: the company's language."),
    )
    phone = models.CharField(max_length=40, blank=True)
    delivery_address = models.TextField(
        blank=True, help_text=_("Default delivery address for new requests.")
    )
    # From the company's directory (SCIM, CSV) and identity provider (SSO).
    external_id = models.CharField(
        _("directory ID"),
        max_length=255,
        blank=True,
        help_text=_("The person's ID in the company's directory (SCIM externalId, CSV)."),
    )
    sso_subject = models.CharField(
        _("identity provider subject"),
        max_length=255,
        blank=True,
        editable=False,
        help_text=_("Who the identity provider says this is (the ID token's sub)."),
    )
    cost_centre = models.CharField(_("cost centre"), max_length=60, blank=True)
    leaver_date = models.DateField(
        _("exit date"),
        null=True,
        blank=True,
        help_text=_("The person's last day: an offboarding case collects their hardware."),
    )
    directory_active = models.BooleanField(
        default=True,
        editable=False,
        help_text=_(
            "What the company's directory last said (SCIM active): a person it "
            "deactivated is a leaver, whose account closes once their hardware is settled."
        ),
    )
    provisioned_by = models.CharField(
        max_length=10,
        choices=[
            ("", _("By hand")),
            ("scim", "SCIM"),
            ("csv", _("CSV import")),
            ("sso", "SSO"),
        ],
        blank=True,
        default="",
        editable=False,
    )
    is_staff = models.BooleanField(default=False, help_text=_("May sign in to the admin."))
    profile_version = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=_("Bumped with every change shown on Your Details: the page's cache key."),
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    is_system = False

    class Meta:
        ordering = ["full_name", "email"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_ci_unique",
                # Said the same whoever holds the address: it may be another company's.
                violation_error_message=_(
                    "This e-mail address cannot be used for a new "
                    "account. Check it, or ask Velory support."
                ),
            ),
            models.CheckConstraint(
                condition=(
                    Q(role=Role.PARTNER_STAFF, partner__isnull=False, company__isnull=True)
                    | Q(role__in=[Role.EMPLOYEE, Role.COMPANY_ADMIN], partner__isnull=True)
                ),
                name="user_role_matches_tenant",
            ),
            models.CheckConstraint(
                condition=(
                    Q(is_superuser=True) | Q(role=Role.PARTNER_STAFF) | Q(company__isnull=False)
                ),
                name="user_employee_has_company",
            ),
            # A directory ID and an identity provider subject name one person per company:
            # never matched across companies.
            models.UniqueConstraint(
                fields=["company", "external_id"],
                condition=~Q(external_id=""),
                name="user_external_id_per_company",
            ),
            models.UniqueConstraint(
                fields=["company", "sso_subject"],
                condition=~Q(sso_subject=""),
                name="user_sso_subject_per_company",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_company_admin(self) -> bool:
        return self.role == Role.COMPANY_ADMIN

    @property
    def is_partner_staff(self) -> bool:
        return self.role == Role.PARTNER_STAFF

    @property
    def is_employee(self) -> bool:
        """Employees and company admins both have a profile of their own hardware."""
        return self.role in (Role.EMPLOYEE, Role.COMPANY_ADMIN) and self.company_id is not None


class EmployeeGroupQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"), employee=by_company("company"))


class EmployeeGroup(models.Model):
    """A group of a company's people, from its directory (a SCIM Group) or made by hand:
    budget policies name groups."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=200)
    external_id = models.CharField(_("directory ID"), max_length=255, blank=True)
    members = models.ManyToManyField(User, related_name="employee_groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = EmployeeGroupQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="group_name_per_company"),
            models.UniqueConstraint(
                fields=["company", "external_id"],
                condition=~Q(external_id=""),
                name="group_external_id_per_company",
            ),
        ]

    def __str__(self) -> str:
        return self.name
