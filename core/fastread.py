"""The two reads every signed-in request makes, without the ORM's per-request SQL building:
the session row and the user with their company and partner.

Profiled on Your Details, these two were half the page: the ORM compiled the user's
three-table SELECT afresh on every request (0.3 ms of its 0.6 ms), and the session row's
SELECT likewise. Each statement here is written once per process from the models' own
metadata, and its rows become model instances through the same converters Django's
compiler applies, so what a view gets is what ``select_related(...).get()`` gave."""

from __future__ import annotations

from functools import cache

from django.db import connections, router


class Columns:
    """One model's concrete columns in a SELECT, and how each value is read back."""

    def __init__(self, model, alias: str, using: str):
        connection = connections[using]
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.names = [f.attname for f in self.fields]
        self.sql = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in self.fields)
        self.converters = []
        for f in self.fields:
            col = f.get_col(alias)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            self.converters.append((col, found))

    def instance(self, values, using: str):
        connection = connections[using]
        converted = []
        for value, (col, found) in zip(values, self.converters, strict=True):
            for converter in found:
                value = converter(value, col, connection)
            converted.append(value)
        return self.model.from_db(using, self.names, converted)


@cache
def _user_statement(using: str):
    from companies.models import Company, Partner, User

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
    from companies.models import User

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


def session_data(model, session_key: str | None, now) -> str | None:
    """The encoded data of an unexpired session, as ``Session.objects.get(session_key=…,
    expire_date__gt=now).session_data``; None when there is none."""
    if not session_key:
        return None
    using = router.db_for_read(model)
    connection = connections[using]
    q = connection.ops.quote_name
    # Identifiers from the model, quoted; the values are parameters.
    sql = (
        f"SELECT {q('session_data')} FROM {q(model._meta.db_table)} "  # noqa: S608
        f"WHERE {q('session_key')} = %s AND {q('expire_date')} > %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_key, connection.ops.adapt_datetimefield_value(now)])
        row = cursor.fetchone()
    return row[0] if row else None
