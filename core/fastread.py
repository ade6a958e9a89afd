"""Reads every signed-in request makes, without the ORM's per-request SQL building: the
session row here, the user with their company and partner in ``companies.backends``.

Profiled on Your Details, these two were half the page: the ORM compiled the user's
three-table SELECT afresh on every request (0.3 ms of its 0.6 ms), and the session row's
SELECT likewise. Each statement here is written once per process from the models' own
metadata, and its rows become model instances through the same converters Django's
compiler applies, so what a view gets is what ``select_related(...).get()`` gave."""

from __future__ import annotations

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
