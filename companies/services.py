"""Writes about people and tenants: one function per use case."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from core.tenancy import Role
from core.transactions import at_end

from . import sso
from .backends import normalized_email
from .forms import send_password_link
from .models import Company, Partner, User
from .roles import GROUP_NAMES


def _apply_role(user: User, role: str) -> None:
    user.role = role
    user.is_staff = user.is_superuser or role in (Role.COMPANY_ADMIN, Role.PARTNER_STAFF)


def _sync_groups(user: User) -> None:
    groups = list(Group.objects.filter(name__in=GROUP_NAMES.values()))
    wanted = [g for g in groups if g.name == GROUP_NAMES.get(user.role)]
    user.groups.remove(*[g for g in groups if g not in wanted])
    user.groups.add(*wanted)


@transaction.atomic
def user_create(
    *,
    email: str,
    full_name: str,
    role: str = Role.EMPLOYEE,
    company: Company | None = None,
    partner: Partner | None = None,
    password: str | None = None,
    **fields,
) -> User:
    """Create a user in their tenant with the role's admin access and group."""
    if role == Role.PARTNER_STAFF and partner is None:
        raise ValidationError(_("Partner staff belong to a partner."))
    if role in (Role.EMPLOYEE, Role.COMPANY_ADMIN) and company is None:
        raise ValidationError(_("Employees and company admins belong to a company."))
    user = User(
        email=User.objects.normalize_email(email).lower(),
        full_name=full_name,
        company=company,
        partner=partner,
        **fields,
    )
    _apply_role(user, role)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    _sync_groups(user)
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str) -> User:
    """Change a user's role; admin access and group follow."""
    _apply_role(user, role)
    user.save(update_fields=["role", "is_staff"])
    _sync_groups(user)
    return user


@transaction.atomic
def user_update(*, user: User, actor, **fields) -> User:
    """Update a user's profile fields (and role, through ``user_set_role``)."""
    role = fields.pop("role", None)
    for name, value in fields.items():
        setattr(user, name, value)
    user.full_clean(exclude=["password"])
    user.save()
    if role is not None and role != user.role:
        user_set_role(user=user, role=role)
    return user


def user_invite(*, user: User, actor) -> None:
    """Mail the user a link to choose their password (the password-reset flow)."""
    send_password_link(user, kind="invite", dedup_suffix=f"invite:{user.pk}")


SSO_FIELDS = ("sso_issuer", "sso_client_id", "sso_domains", "sso_password_allowed")


@transaction.atomic
def company_update_policy(
    *, company: Company, actor, sso_client_secret: str | None = None, **fields
) -> Company:
    """Change a company's policy, support details and single sign-on (company admin or
    superuser).

    Single sign-on: the issuer is an https URL (http only on this machine), the domains are
    domain names no other company uses (a company admin adds only their own people's), the
    client secret is stored encrypted and only replaced when a new one is given, and
    password sign-in can be switched off only once the provider is fully configured (issuer,
    client ID and secret), so nobody is locked out by half a setup."""
    allowed = {
        *SSO_FIELDS,
        "auto_receive_on_delivery",
        "auto_receive_after_days",
        "attestation_months",
        "return_grace_days",
        "useful_life_months",
        "depreciation_floor_percent",
        "buyout_allowed",
        "buyout_payment",
        "card_payments_allowed",
        "support_name",
        "support_email",
        "support_phone",
        "default_language",
        "time_zone",
    }
    unknown = set(fields) - allowed
    if unknown and not getattr(actor, "is_superuser", False):
        raise ValidationError(f"Not a policy setting: {', '.join(sorted(unknown))}.")
    if "sso_issuer" in fields:
        fields["sso_issuer"] = sso.issuer_check(fields["sso_issuer"])
    if "sso_domains" in fields:
        fields["sso_domains"] = sso.domains_check(
            fields["sso_domains"], company=company, actor=actor
        )
    for name, value in fields.items():
        setattr(company, name, value)
    if sso_client_secret:
        company.set_sso_client_secret(sso_client_secret)
    if not company.sso_password_allowed and not (
        company.sso_enabled and company.sso_client_secret_encrypted
    ):
        raise ValidationError(
            {
                "sso_password_allowed": _(
                    "Password sign-in can be switched off only once single "
                    "sign-on is set up: issuer, client ID and client secret."
                )
            }
        )
    company.full_clean()
    company.save()
    return company


@transaction.atomic
def user_sso_match(*, company: Company, subject: str, email: str, email_verified: bool) -> User:
    """The person a verified ID token of the company's identity provider names.

    That is the person of this company with this subject (the provider's ``sub``). The first
    time, it is the person of this company with this address, when the provider says the
    address is verified and its domain is one of the company's SSO domains; their subject is
    then recorded, so a later change of address at the provider still finds them. Never a
    person of another company, whatever the address, and never a new account: people are
    added by an admin, SCIM or a CSV import. An inactive person is refused. A refusal
    raises ``SSORefused`` and writes nothing."""
    names = {"company": company.name}
    inactive = _("Your Velory account at %(company)s is not active. Ask your IT admin.") % names
    user = User.objects.filter(company=company, sso_subject=subject).first()
    if user is None:
        address = normalized_email(email)
        names["address"] = address
        if not address or not email_verified:
            raise sso.SSORefused(
                _(
                    "%(company)s's identity provider did not confirm your e-mail address, and "
                    "Velory knows no one there by that sign-in yet. Ask your IT admin to add you."
                )
                % names
            )
        if sso.email_domain(address) not in company.sso_domain_list:
            raise sso.SSORefused(
                _(
                    "%(address)s is not an address of %(company)s's single sign-on. Sign in "
                    "with your own company's address."
                )
                % names
            )
        user = User.objects.filter(company=company, email__iexact=address).first()
        if user is None:
            raise sso.SSORefused(
                _(
                    "%(company)s has no Velory account for %(address)s. Ask your IT admin to "
                    "add you."
                )
                % names
            )
        if user.sso_subject:
            raise sso.SSORefused(_linked_to_another() % names)
        if not user.is_active:
            raise sso.SSORefused(inactive)
        try:
            with transaction.atomic():
                linked = User.objects.filter(pk=user.pk, sso_subject="").update(sso_subject=subject)
        except IntegrityError:  # the subject was linked to someone else meanwhile
            linked = 0
        if not linked:
            raise sso.SSORefused(_linked_to_another() % names)
        user.sso_subject = subject
    if not user.is_active:
        raise sso.SSORefused(inactive)
    return user


def _linked_to_another() -> str:
    return _(
        "The Velory account of %(address)s is linked to another person at %(company)s's "
        "identity provider. Ask your IT admin to add you."
    )


@transaction.atomic
def user_language_set(*, user: User, language: str) -> User:
    """The language a person reads Velory in, pages and e-mails (the switch in their profile
    menu); '' follows their company's. Their Your Details is rendered anew in it."""
    codes = {code for code, _name in settings.LANGUAGES}
    if language and language not in codes:
        raise ValidationError(_("Choose one of the languages in the list."))
    if user.language != language:
        User.objects.filter(pk=user.pk).update(language=language)
        user.language = language
        profiles_touch([user.pk])
    return user


def profiles_touch(user_ids) -> None:
    """Mark these people's Your Details as changed: the page's cached fragment is keyed by
    this version, so the next view renders afresh. Inside a use case the bump is its last
    statement, one UPDATE for everyone it touched (``core.transactions.at_end``): the user
    rows are locked last, after every budget, request, order and device, in every use case."""
    at_end("profiles", user_ids, _profiles_bump)


def _profiles_bump(ids: set) -> None:
    User.objects.filter(pk__in=sorted(ids)).update(profile_version=F("profile_version") + 1)


def leasing_company_saved(leasing_company) -> None:
    """A leasing company's name or contacts changed (in the admin): the device pages of
    everyone whose company leases from it, or who holds a lease of it, show them."""
    profiles_touch(
        User.objects.filter(
            Q(company__leasing_company=leasing_company)
            | Q(devices__lease__leasing_company=leasing_company)
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def company_people_touch(company_id: int) -> None:
    """Something every employee's device pages show changed for the whole company (a
    leasing arrangement's return steps, who sends them, the buyout price): renew them."""
    profiles_touch(User.objects.filter(company_id=company_id).values_list("pk", flat=True))


def partner_saved(partner) -> None:
    """A partner's name, contacts or tracking changed (in the admin): the Your Details of
    everyone at the companies it serves show it, so their cached pages are renewed."""
    profiles_touch(User.objects.filter(company__partners=partner).values_list("pk", flat=True))
