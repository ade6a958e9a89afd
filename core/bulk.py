"""Set-based writes for the bulk paths (the tracking poller, the transition engine).

``update_rows`` changes many rows whose new values differ per row in one UPDATE;
``insert_rows`` appends many history rows in one INSERT. On PostgreSQL the values travel
as one array per column (``unnest``), so a statement has a handful of parameters however
many rows it writes: parsing it costs nothing, on the client or the server. Elsewhere
(SQLite, the embedded mode) they are a CASE on the primary key and a multi-row VALUES."""

from __future__ import annotations

from collections import defaultdict

from django.db import connection


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _array_type(field) -> str:
    return f"{field.db_type(connection)}[]"


def update_rows(
    model, values: dict[int, dict[str, object]], shared: dict[str, object] | None = None
) -> int:
    """``values`` maps a primary key to that row's new field values; ``shared`` are set on
    every row alike. Returns the number of rows updated."""
    if not values:
        return 0
    if connection.vendor != "postgresql":
        return _update_case(model, values, shared or {})
    # One statement per set of fields changed (usually one or two per batch).
    groups: dict[tuple[str, ...], dict[int, dict]] = defaultdict(dict)
    for key, row in values.items():
        groups[tuple(sorted(row))][key] = row
    count = 0
    for names, rows in groups.items():
        count += _update_unnest(model, names, rows, shared or {})
    return count


def _update_unnest(model, names, rows, shared) -> int:
    meta = model._meta
    pk_field = meta.pk
    fields = [meta.get_field(name) for name in names]
    keys = list(rows)
    arrays = [[pk_field.get_db_prep_save(k, connection) for k in keys]]
    arrays += [
        [f.get_db_prep_save(rows[k][name], connection) for k in keys]
        for name, f in zip(names, fields, strict=True)
    ]
    casts = [_array_type(pk_field), *(_array_type(f) for f in fields)]
    aliases = ["k", *(f"v{i}" for i in range(len(fields)))]
    sets = [f"{_qn(f.column)} = v.v{i}" for i, f in enumerate(fields)]
    params = []
    for name, value in shared.items():
        field = meta.get_field(name)
        sets.append(f"{_qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    if not sets:
        return 0
    table = _qn(meta.db_table)
    sql = (
        f"UPDATE {table} SET {', '.join(sets)} FROM unnest("  # noqa: S608  (names come from the model)
        + ", ".join(f"%s::{cast}" for cast in casts)
        + f") AS v({', '.join(aliases)}) WHERE {table}.{_qn(pk_field.column)} = v.k"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *arrays])
        return cursor.rowcount


def _update_case(model, values, shared) -> int:
    meta = model._meta
    pk = _qn(meta.pk.column)
    names = sorted({name for row in values.values() for name in row})
    sets, params = [], []
    for name in names:
        field = meta.get_field(name)
        column = _qn(field.column)
        whens = []
        for key, row in values.items():
            if name in row:
                whens.append("WHEN %s THEN %s")
                params += [key, field.get_db_prep_save(row[name], connection)]
        sets.append(f"{column} = CASE {pk} {' '.join(whens)} ELSE {column} END")
    for name, value in shared.items():
        field = meta.get_field(name)
        sets.append(f"{_qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    keys = list(values)
    sql = (
        f"UPDATE {_qn(meta.db_table)} SET {', '.join(sets)} "  # noqa: S608
        f"WHERE {pk} IN ({', '.join(['%s'] * len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys])
        return cursor.rowcount


def insert_rows(model, rows: list[dict[str, object]]) -> None:
    """Append rows of plain values (no ids read back): for history written in bulk. Every
    row names the same fields."""
    if not rows:
        return
    meta = model._meta
    names = list(rows[0])
    fields = [meta.get_field(name) for name in names]
    columns = ", ".join(_qn(f.column) for f in fields)
    table = _qn(meta.db_table)
    if connection.vendor == "postgresql":
        arrays = [
            [f.get_db_prep_save(row[name], connection) for row in rows]
            for name, f in zip(names, fields, strict=True)
        ]
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT * FROM unnest("  # noqa: S608
            + ", ".join(f"%s::{_array_type(f)}" for f in fields)
            + ")"
        )
        params = arrays
    else:
        placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholder] * len(rows))  # noqa: S608
        params = [
            f.get_db_prep_save(row[name], connection)
            for row in rows
            for name, f in zip(names, fields, strict=True)
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
