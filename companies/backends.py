import time
from functools import cache

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connections, router

from core.fastread import Columns

from .models import Company, Partner, User
from .roles import GROUP_NAMES

# Seconds a role's permissions stay cached in a process. Roles' groups are set by
# migrations, so they change with a deploy; this only bounds how long an admin's manual
# edit of a group takes to show.
GROUP_PERMISSIONS_TTL = 60
_group_permissions: dict[tuple[int, ...], tuple[float, set[str]]] = {}


def normalized_email(value) -> str:
    """An address as sign-in reads it: case and surrounding space do not matter."""
    return str(value or "").strip().lower()


def axes_username(request, credentials=None) -> str:
    """What django-axes counts failed sign-ins against: the normalised address, so that
    ``Ben@acme.example`` and `` ben@ACME.example`` share one count and one lockout."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        return normalized_email(credentials.get(field))
    return normalized_email(getattr(request, "POST", {}).get(field))


class EmailBackend(ModelBackend):
    """Sign in with e-mail (case-insensitive). The user is loaded with their company and
    partner in one query, so the page shell costs nothing more.

    Permissions come from the role's group only (Velory grants nothing per user), and a
    role's permissions are read once a minute per process, not on every admin page.

    A company that has switched password sign-in off (``Company.sso_password_allowed``)
    has its people sign in only through its identity provider: their password is refused
    here, whichever form or client sent it (superusers keep theirs, to repair a broken
    setup)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not password_sign_in_allowed(user):
            return None
        return user

    def get_user(self, user_id):
        # select_related("company", "partner").get(pk=…), without building its SQL anew
        # on every request (core.fastread: half of a cached page's time went there).
        user = user_with_tenants(user_id)
        if user is None:
            return None
        return user if self.user_can_authenticate(user) else None

    def _get_user_permissions(self, user_obj):
        return Permission.objects.none()

    def get_group_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_group_permissions(user_obj, obj)
        cached = getattr(user_obj, "_velory_group_perms", None)
        if cached is None:
            cached = self._role_permissions(user_obj)
            user_obj._velory_group_perms = cached
        return cached

    def _role_permissions(self, user_obj) -> set[str]:
        group = GROUP_NAMES.get(user_obj.role)
        if group is None:
            return set()
        now = time.monotonic()
        hit = _group_permissions.get(group)
        if hit and now - hit[0] < GROUP_PERMISSIONS_TTL:
            return hit[1]
        perms = {
            f"{app}.{code}"
            for app, code in Permission.objects.filter(group__name=group).values_list(
                "content_type__app_label", "codename"
            )
        }
        _group_permissions[group] = (now, perms)
        return perms


def password_sign_in_allowed(user) -> bool:
    """May this person sign in with a password? Not when their company signs in only
    through its identity provider (superusers always may)."""
    company = user.company if user.company_id else None
    if user.is_superuser or company is None:
        return True
    return company.sso_password_allowed or not company.sso_enabled


def forget_cached_permissions() -> None:
    """For tests and after changing a group's permissions by hand."""
    _group_permissions.clear()


@cache
def _user_statement(using: str):
    q = connections[using].ops.quote_name
    user, company, partner = (
        Columns(User, "u", using),
        Columns(Company, "c", using),
        Columns(Partner, "p", using),
    )
    # Identifiers from the models' metadata, quoted; the id is a parameter.
    sql = (
        f"SELECT {user.sql}, {company.sql}, {partner.sql} "  # noqa: S608
        f"FROM {q(User._meta.db_table)} u "
        f"LEFT OUTER JOIN {q(Company._meta.db_table)} c ON c.{q('id')} = u.{q('company_id')} "
        f"LEFT OUTER JOIN {q(Partner._meta.db_table)} p ON p.{q('id')} = u.{q('partner_id')} "
        f"WHERE u.{q(User._meta.pk.column)} = %s"
    )
    return sql, user, company, partner


def user_with_tenants(user_id):
    """The user with ``company`` and ``partner`` loaded (None if there is no such user), as
    ``User.objects.select_related("company", "partner").get(pk=user_id)``."""
    using = router.db_for_read(User)
    try:
        user_id = User._meta.pk.to_python(user_id)
    except Exception:  # a malformed id in a session: nobody
        return None
    sql, users, companies, partners = _user_statement(using)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    n_user, n_company = len(users.names), len(companies.names)
    user = users.instance(row[:n_user], using)
    company_values = row[n_user : n_user + n_company]
    partner_values = row[n_user + n_company :]
    user._state.fields_cache["company"] = (
        companies.instance(company_values, using) if user.company_id is not None else None
    )
    user._state.fields_cache["partner"] = (
        partners.instance(partner_values, using) if user.partner_id is not None else None
    )
    return user
