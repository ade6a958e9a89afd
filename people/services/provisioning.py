"""Joiners, movers and leavers: one set of services for every path a person comes by (the
admin's form, the company's directory over SCIM, a CSV import).

A person is found by their directory ID within the company, else by their e-mail address
within the company; never across companies. A joiner gets the budgets their company's
policies name and a welcome e-mail; a leaver (an exit date, or the directory deactivating
them) gets an offboarding case. Nobody is ever deleted: a deactivated person's history,
devices and mail stay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from budgets.services import budget_policies_apply
from companies import services as companies
from companies.models import Company, EmployeeGroup, User
from core.locks import user_lock
from core.tenancy import SYSTEM, Role, acts_as_company_admin
from core.transactions import use_case
from notifications.services import PasswordLink, notify

from . import offboarding

# Fields a directory may set on a person, with the User field each maps to.
PROFILE_FIELDS = ("full_name", "job_title", "phone", "cost_centre")
UNSET = object()  # "the directory did not say": leave the field as it is


class AddressTaken(ValidationError):
    """The e-mail address (or directory ID) belongs to another account: SCIM's 409."""


@dataclass
class PersonSpec:
    """What a directory says of one person. ``None`` for a profile field leaves it alone."""

    email: str
    full_name: str = ""
    external_id: str | None = None
    active: bool = True
    job_title: str | None = None
    phone: str | None = None
    cost_centre: str | None = None
    exit_date: object = UNSET  # a date, None (no exit date) or UNSET


@dataclass
class Provisioned:
    user: User
    created: bool = False
    changed: list[str] = field(default_factory=list)
    deactivated: bool = False
    reactivated: bool = False


def _may_manage(actor, company: Company) -> None:
    directory = getattr(actor, "role", "") == "directory"
    if actor is SYSTEM or (directory and actor.company_id == company.pk):
        return
    if not acts_as_company_admin(actor, company.pk):
        raise ValidationError(_("Only the company's admins and directory manage its people."))


def normalized(email: str) -> str:
    return User.objects.normalize_email((email or "").strip()).lower()


def person_find(company: Company, *, external_id: str | None = None, email: str = ""):
    """The company's person with this directory ID, else with this address; None."""
    people = User.objects.filter(company=company)
    if external_id:
        found = people.filter(external_id=external_id).first()
        if found is not None:
            return found
    if email:
        return people.filter(email__iexact=normalized(email)).first()
    return None


def _address_free(email: str, *, company: Company, user: User | None) -> None:
    clash = User.objects.filter(email__iexact=email).exclude(pk=getattr(user, "pk", None))
    if clash.exists():
        # Said the same whoever holds it: it may be another company's person.
        raise AddressTaken(_("%(email)s is already used by another account.") % {"email": email})


def welcome_send(user: User) -> None:
    """The joiner's welcome: what Velory is for them, a link to the catalogue, and how to
    sign in (their company's identity provider, or a link to choose a password)."""
    company = user.company
    sso = bool(
        company
        and company.sso_enabled
        and user.email.rsplit("@", 1)[-1].lower() in company.sso_domain_list
    )
    context = {"user": user, "company": company, "sso": sso}
    if not sso:
        context["link"] = PasswordLink(user.pk)
    notify(kind="welcome", recipient=user, context=context, dedup_key=f"welcome:{user.pk}")


@use_case
def person_create(
    *,
    company: Company,
    email: str,
    full_name: str,
    actor,
    source: str = "",
    role: str = Role.EMPLOYEE,
    external_id: str = "",
    job_title: str = "",
    phone: str = "",
    cost_centre: str = "",
    delivery_address: str = "",
    exit_date: date | None = None,
    welcome: bool = True,
) -> User:
    """A joiner: the account, the budgets the company's policies name, and the welcome
    e-mail (after commit). With an exit date already, their offboarding case opens too."""
    _may_manage(actor, company)
    email = normalized(email)
    if not email:
        raise ValidationError(_("An e-mail address is required."))
    _address_free(email, company=company, user=None)
    if external_id and User.objects.filter(company=company, external_id=external_id).exists():
        raise AddressTaken(
            _("Directory ID %(id)s is already used by another person.") % {"id": external_id}
        )
    user = companies.user_create(
        email=email,
        full_name=full_name or email.split("@")[0],
        role=role,
        company=company,
        external_id=external_id,
        job_title=job_title,
        phone=phone,
        cost_centre=cost_centre,
        delivery_address=delivery_address,
        provisioned_by=source,
    )
    user.company = company
    budget_policies_apply(employee=user, actor=actor)
    if welcome:
        welcome_send(user)
    if exit_date is not None:
        person_set_exit_date(user_id=user.pk, exit_date=exit_date, actor=actor)
    return user


@use_case
def person_provision(*, company: Company, spec: PersonSpec, actor, source: str) -> Provisioned:
    """Create or update the person a directory describes (idempotent: the same description
    twice changes nothing the second time). ``active`` false makes them a leaver."""
    _may_manage(actor, company)
    email = normalized(spec.email)
    found = person_find(company, external_id=spec.external_id, email=email)
    if found is None:
        user = person_create(
            company=company,
            email=email,
            full_name=spec.full_name,
            actor=actor,
            source=source,
            external_id=spec.external_id or "",
            job_title=spec.job_title or "",
            phone=spec.phone or "",
            cost_centre=spec.cost_centre or "",
            exit_date=spec.exit_date if isinstance(spec.exit_date, date) else None,
        )
        outcome = Provisioned(user=user, created=True)
        if not spec.active:
            outcome.deactivated = person_deactivate(user_id=user.pk, actor=actor)
        return outcome
    return person_update(user_id=found.pk, spec=spec, actor=actor, company=company)


@use_case
def person_update(*, user_id: int, spec: PersonSpec, actor, company: Company) -> Provisioned:
    """Apply a directory's description to an existing person of ``company``."""
    _may_manage(actor, company)
    user = user_lock(user_id, filters=Q(company=company))
    user.company = company
    changed = []
    email = normalized(spec.email)
    if email and email != user.email:
        _address_free(email, company=company, user=user)
        user.email = email
        changed.append("email")
    if spec.external_id is not None and spec.external_id != user.external_id:
        clash = User.objects.filter(company=company, external_id=spec.external_id)
        if spec.external_id and clash.exclude(pk=user.pk).exists():
            raise AddressTaken(_("Directory ID %(id)s is already used.") % {"id": spec.external_id})
        user.external_id = spec.external_id
        changed.append("external_id")
    for name in PROFILE_FIELDS:
        value = getattr(spec, name)
        if value is not None and value != getattr(user, name) and (name != "full_name" or value):
            setattr(user, name, value)
            changed.append(name)
    if changed:
        user.full_clean(exclude=["password"])
        user.save(update_fields=changed)
    outcome = Provisioned(user=user, changed=changed)
    if "cost_centre" in changed:
        budget_policies_apply(employee=user, actor=actor)
    if spec.exit_date is not UNSET and spec.exit_date != user.leaver_date:
        person_set_exit_date(user_id=user.pk, exit_date=spec.exit_date, actor=actor)
        outcome.changed.append("leaver_date")
    if not spec.active and user.directory_active:
        outcome.deactivated = person_deactivate(user_id=user.pk, actor=actor)
    elif spec.active and not user.directory_active:
        outcome.reactivated = person_reactivate(user_id=user.pk, actor=actor)
    return outcome


@use_case
def person_set_exit_date(*, user_id: int, exit_date: date | None, actor) -> User:
    """Set (or clear) a person's exit date. Set, it opens their offboarding case (or moves
    its date); an exit date in the past opens the case as overdue, not as an error.
    Cleared, an open case with nothing settled yet is cancelled."""
    user = user_lock(user_id)
    _may_manage(actor, user.company)
    if user.leaver_date != exit_date:
        user.leaver_date = exit_date
        user.save(update_fields=["leaver_date"])
    if exit_date is None:
        offboarding.offboarding_cancel(employee_id=user.pk, actor=actor)
    else:
        offboarding.offboarding_open(employee_id=user.pk, exit_date=exit_date, actor=actor)
    companies.profiles_touch([user.pk])
    return user


@use_case
def person_deactivate(*, user_id: int, actor) -> bool:
    """The directory deactivated this person (SCIM ``active: false``, a CSV row, DELETE): a
    leaver as of today unless an earlier exit date is set. Nothing is deleted; the account
    closes when the offboarding case is settled (at once when they hold no hardware)."""
    user = user_lock(user_id)
    _may_manage(actor, user.company)
    if not user.directory_active:
        return False
    user.directory_active = False
    user.save(update_fields=["directory_active"])
    today = timezone.localdate()
    exit_date = min(user.leaver_date, today) if user.leaver_date else today
    person_set_exit_date(user_id=user.pk, exit_date=exit_date, actor=actor)
    return True


@use_case
def person_reactivate(*, user_id: int, actor) -> bool:
    """The directory made a leaver active again (a mistaken deactivation undone): the
    account opens, the exit date it set goes, and a case with nothing settled is
    cancelled."""
    user = user_lock(user_id)
    _may_manage(actor, user.company)
    if user.directory_active and user.is_active:
        return False
    user.directory_active = True
    user.is_active = True
    user.save(update_fields=["directory_active", "is_active"])
    person_set_exit_date(user_id=user.pk, exit_date=None, actor=actor)
    return True


# Groups ---------------------------------------------------------------------------------


@use_case
def group_provision(
    *, company: Company, name: str, external_id: str = "", actor, group_id: int | None = None
) -> EmployeeGroup:
    """Create a group, or rename and relink the one given."""
    _may_manage(actor, company)
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("A group needs a name."))
    taken = EmployeeGroup.objects.filter(company=company, name=name).exclude(pk=group_id)
    if taken.exists():
        raise AddressTaken(_("A group named %(name)s exists already.") % {"name": name})
    if group_id is None:
        return EmployeeGroup.objects.create(company=company, name=name, external_id=external_id)
    group = EmployeeGroup.objects.select_for_update().get(company=company, pk=group_id)
    group.name, group.external_id = name, external_id or group.external_id
    group.save(update_fields=["name", "external_id"])
    return group


@use_case
def group_members_set(
    *,
    company: Company,
    group_id: int,
    actor,
    add: list[int] = (),
    remove: list[int] = (),
    replace: list[int] | None = None,
) -> EmployeeGroup:
    """Change a group's members (ids of the company's people; others are refused). A new
    member gets the budgets the group's policies name in categories they have none in."""
    _may_manage(actor, company)
    group = EmployeeGroup.objects.select_for_update().get(company=company, pk=group_id)
    wanted = {*add, *remove, *(replace or [])}
    people = {u.pk: u for u in User.objects.filter(company=company, pk__in=wanted)}
    unknown = wanted - set(people)
    if unknown:
        # Translators: %(ids)s are the ids of people who are not the company's.
        raise ValidationError(
            _("No such member: %(ids)s.") % {"ids": ", ".join(str(i) for i in sorted(unknown))}
        )
    current = set(group.members.values_list("pk", flat=True))
    target = set(replace) if replace is not None else (current | set(add)) - set(remove)
    joined, left = target - current, current - target
    if left:
        group.members.remove(*left)
    if joined:
        group.members.add(*joined)
        for pk in sorted(joined):
            budget_policies_apply(employee=people[pk], actor=actor)
    return group


@use_case
def group_delete(*, company: Company, group_id: int, actor) -> None:
    """The directory deleted a group: it goes with its members' links. A group that budget
    policies name stays (emptied, unlinked from the directory) so the policies are kept."""
    _may_manage(actor, company)
    group = EmployeeGroup.objects.select_for_update().get(company=company, pk=group_id)
    group.members.clear()
    if group.budget_policies.exists():
        group.external_id = ""
        group.save(update_fields=["external_id"])
        return
    group.delete()
