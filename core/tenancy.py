"""Tenant scoping, declared once.

Every model a user can reach declares on its queryset *who sees which rows*:

    class DeviceQuerySet(TenantQuerySet):
        scope = TenantScope(
            company_admin=by_company("company"),
            employee=by_user("owner"),
            partner_staff=by_partner("order__partner"),
        )

and every view, admin and service reads through ``Model.objects.visible_to(actor)``. A role
without a rule sees nothing (default deny), so a foreign id is simply "not found" (a 404),
never a 403 that would confirm the object exists. Superusers and the system actor (Celery
tasks) see everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    EMPLOYEE = "employee", _("Employee")
    COMPANY_ADMIN = "company_admin", _("Company admin")
    PARTNER_STAFF = "partner_staff", _("Partner staff")


class SystemActor:
    """The actor for work nobody clicked: Celery tasks, the poller, the daily jobs."""

    is_system = True
    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = None
    id = None
    role = "system"
    company_id = None
    partner_id = None
    email = ""

    def __str__(self) -> str:
        return "System"

    def __repr__(self) -> str:
        return "<SYSTEM>"

    def get_full_name(self) -> str:
        return "Velory"


SYSTEM = SystemActor()


@dataclass(frozen=True)
class Rule:
    """One role's filter: rows whose ``path`` equals the user's attribute ``attr``.

    ``many`` marks a path across a to-many relation: it is applied as ``pk IN (subquery)`` so
    rows never repeat (and ``select_for_update`` still works, which DISTINCT would forbid)."""

    path: str
    attr: str
    many: bool = False

    def q(self, user: Any) -> Q | None:
        value = getattr(user, self.attr, None)
        if value is None:
            return None
        return Q(**{self.path: value})


def by_company(path: str, *, many: bool = False) -> Rule:
    """Rows of the user's own company."""
    return Rule(path, "company_id", many)


def by_user(path: str) -> Rule:
    """Rows that belong to the user themselves."""
    return Rule(path, "pk")


def by_partner(path: str, *, many: bool = False) -> Rule:
    """Rows of the user's partner (reseller/distributor)."""
    return Rule(path, "partner_id", many)


@dataclass(frozen=True)
class TenantScope:
    company_admin: Rule | None = None
    employee: Rule | None = None
    partner_staff: Rule | None = None

    def rule_for(self, user: Any) -> Rule | None:
        rule = getattr(self, str(getattr(user, "role", "")), None)
        return rule if isinstance(rule, Rule) else None


def acts_as_company_admin(actor: Any, company_id: int | None = None) -> bool:
    """The one check of "may act as a company admin": a superuser, or a company admin (of
    ``company_id`` when it is given)."""
    if getattr(actor, "is_superuser", False):
        return True
    if getattr(actor, "role", None) != Role.COMPANY_ADMIN:
        return False
    return company_id is None or actor.company_id == company_id


def sees_everything(user: Any) -> bool:
    return bool(getattr(user, "is_system", False) or getattr(user, "is_superuser", False))


class TenantQuerySet(models.QuerySet):
    """A queryset that knows who may see its rows. Subclasses declare ``scope``."""

    scope: TenantScope = TenantScope()

    def visible_to(self, user: Any) -> TenantQuerySet:
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        if not getattr(user, "is_active", False):
            return self.none()
        if sees_everything(user):
            return self.all()
        rule = self.scope.rule_for(user)
        q = rule.q(user) if rule else None
        if q is None:
            return self.none()
        if rule.many:
            return self.filter(pk__in=self.model._base_manager.filter(q).values("pk"))
        return self.filter(q)


def visible(model_or_qs: Any, user: Any) -> models.QuerySet:
    """``visible_to`` for a model or queryset that may not be tenant-aware: such a model is
    visible to superusers and the system only (default deny)."""
    qs = (
        model_or_qs
        if isinstance(model_or_qs, models.QuerySet)
        else model_or_qs._default_manager.all()
    )
    if hasattr(qs, "visible_to"):
        return qs.visible_to(user)
    return qs if sees_everything(user) else qs.none()


def actor_name(actor) -> str:
    """How the actor is named in a timeline and in history rows."""
    if getattr(actor, "is_system", False):
        return "Velory"
    if actor.role == Role.PARTNER_STAFF and actor.partner_id:
        return f"{actor.get_full_name()} ({actor.partner.name})"
    if actor.is_superuser:
        return f"{actor.get_full_name()} (Velory support)"
    if actor.role == Role.COMPANY_ADMIN:
        return f"{actor.get_full_name()} (company admin)"
    return actor.get_full_name()
