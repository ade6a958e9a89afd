"""Reads every signed-in request makes, without the ORM's per-request SQL building: the
session row here, the user with their company and partner in ``companies.backends``.

Profiled on Your Details, these two were half the page: the ORM compiled the user's
three-table SELECT afresh on every request (0.3 ms of its 0.6 ms), and the session row's
SELECT likewise. Each statement here is written once per process from the models' own
metadata, and its rows become model instances through the same converters Django's
compiler applies, so what a view gets is what ``select_related(...).get()`` gave."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime
from functools import cache

from django.core.exceptions import EmptyResultSet
from django.db import connections, models, router
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators


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


# --- Compiled reads ---------------------------------------------------------------------------
#
# A page's reads are querysets like any other, but the ORM builds and compiles their SQL anew
# on every request; on an uncached Your Details that was half of the page's time. A
# ``Statement`` compiles its queryset once per process (per database and kind of actor) with
# marker values in place of what changes from call to call: the actor's ids, which the
# tenant scope (``visible_to``) filters by, and the statement's own parameters (a moment).
# A call puts the real values at the markers' places and reads the rows back through the
# compiler's own converters into what the queryset gives: dicts for ``values()``, model
# instances (with their ``select_related`` objects and annotations) otherwise.

# What ``visible_to`` reads of an actor to choose its filter (core.tenancy): actors alike in
# these get the same SQL, and their ids are its parameters.
ACTOR_FLAGS = ("is_authenticated", "is_active", "is_system", "is_superuser", "role")
ACTOR_IDS = ("pk", "company_id", "partner_id")
_MARK = -7_349_000_000_000  # marker ids count down from here, far from any real value


class _StandIn:
    """The actor a statement is compiled for: the real actor's flags, marker ids."""

    def __init__(self, actor, marks: dict):
        for name in ACTOR_FLAGS:
            setattr(self, name, getattr(actor, name, None))
        for name in ACTOR_IDS:
            setattr(self, name, marks.get(name))
        self.id = self.pk


def actor_shape(actor) -> tuple:
    """What of ``actor`` decides a statement's SQL, as opposed to its parameters."""
    flags = tuple(getattr(actor, name, None) for name in ACTOR_FLAGS)
    return (*flags, *(getattr(actor, name, None) is None for name in ACTOR_IDS))


class _Compiled:
    """One queryset's SQL, the places of its per-call values in its parameters, and how its
    rows become what the queryset gives (as ``ValuesIterable`` and ``ModelIterable`` do)."""

    def __init__(self, qs, using: str, marks: dict):
        if qs._prefetch_related_lookups or qs._known_related_objects:
            raise ValueError("a compiled read does not prefetch: join what it needs instead")
        compiler = qs.query.get_compiler(using=using)
        sql, params = compiler.as_sql()  # EmptyResultSet for .none(): the caller's
        if not sql:
            raise EmptyResultSet
        self.sql, self.params = sql, list(params)
        # (position, name): where each marker landed among the parameters (an id may come
        # as an int or as the driver's int type, Int8: equal all the same)
        self.slots = [
            (i, name)
            for i, value in enumerate(self.params)
            for name, mark in marks.items()
            if (isinstance(value, int) if isinstance(mark, int) else type(value) is type(mark))
            and value == mark
        ]
        fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
        if compiler.has_composite_fields(fields):
            raise ValueError("a compiled read of composite fields is not supported")
        self.converters = list(compiler.get_converters(fields).items())
        self.trim = compiler.col_count if compiler.has_extra_select else None
        if qs._iterable_class is ValuesIterable:
            query = qs.query
            self.names = (
                list(query.selected)
                if query.selected
                else [*query.extra_select, *query.values_select, *query.annotation_select]
            )
            self.model = None
        elif qs._iterable_class is ModelIterable:
            info = compiler.klass_info
            self.model = info["model"]
            self.start, self.end = info["select_fields"][0], info["select_fields"][-1] + 1
            self.init_list = [f[0].target.attname for f in compiler.select[self.start : self.end]]
            self.populators = get_related_populators(info, compiler.select, using)
            self.annotations = list((compiler.annotation_col_map or {}).items())
        else:
            raise ValueError("a compiled read gives dicts (values()) or model instances")

    def shape(self) -> tuple:
        """Everything but the markers' values: two compilations must agree on it."""
        at = dict(self.slots)
        return self.sql, self.slots, [v for i, v in enumerate(self.params) if i not in at]

    def decode(self, rows, using: str) -> list:
        connection = connections[using]
        converters, trim = self.converters, self.trim
        converted = []
        for row in rows:
            row = list(row[:trim] if trim else row)
            for pos, (found, expression) in converters:
                value = row[pos]
                for converter in found:
                    value = converter(value, expression, connection)
                row[pos] = value
            converted.append(row)
        if self.model is None:
            names = self.names
            return [dict(zip(names, row, strict=True)) for row in converted]
        model, start, end, init_list = self.model, self.start, self.end, self.init_list
        objects = []
        for row in converted:
            obj = model.from_db(using, init_list, row[start:end])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, pos in self.annotations:
                setattr(obj, name, row[pos])
            objects.append(obj)
        return objects


class Read:
    """A statement bound to its values, to run alone (``Statement.fetch``) or together
    with others (``run``). ``then`` makes the result of the rows' list."""

    __slots__ = ("compiled", "params", "then", "using")

    def __init__(self, compiled: _Compiled | None, params, using: str, then=None):
        self.compiled, self.params, self.using, self.then = compiled, params, using, then

    def result(self, rows):
        found = self.compiled.decode(rows, self.using) if self.compiled else []
        return self.then(found) if self.then else found


class Statement:
    """A read of ``model`` whose SQL is built once per process.

    ``build(actor, **params)`` returns the queryset, written as a selector writes it
    (``visible_to(actor)``, filters by ``actor.pk`` rather than by the actor object, and the
    parameters). It is called with a stand-in actor and marker values, so it reads no
    clock nor anything else that changes: what changes is a parameter, declared with the
    model field that prepares it (``since=models.DateTimeField()``). Compiling twice with
    different markers proves it: a value that differs between the two is refused.

    ``bind(actor, **params)`` gives a ``Read``; ``fetch(actor, **params)`` runs one. Either
    gives the list the queryset gives; an actor who may see nothing costs no query."""

    def __init__(self, model, build, **params):
        self.model = model
        self.build = build
        self.fields = {name: models.BigIntegerField() for name in ACTOR_IDS} | params
        self._compiled: dict = {}

    def _marks(self, attempt: int, actor) -> dict:
        marks = {}
        for i, (name, field) in enumerate(self.fields.items()):
            if name in ACTOR_IDS and getattr(actor, name, None) is None:
                continue
            if isinstance(field, models.DateTimeField):
                marks[name] = datetime(1901, 1 + attempt, 1, 0, 0, i, 7349, tzinfo=UTC)
            elif isinstance(field, models.DateField):
                marks[name] = date(1901, 1 + attempt, 1 + i)
            elif isinstance(field, models.IntegerField):
                marks[name] = _MARK - 1000 * attempt - i
            else:
                raise ValueError(f"{name}: a {type(field).__name__} parameter is not supported")
        return marks

    def _compile(self, using: str, actor) -> _Compiled | None:
        key = (using, actor_shape(actor))
        if key in self._compiled:
            return self._compiled[key]
        connection = connections[using]
        versions = []
        for attempt in (0, 1):
            marks = self._marks(attempt, actor)
            params = {n: m for n, m in marks.items() if n not in ACTOR_IDS}
            # ids as they are; a moment or a day as its field gives it to the database
            prepared = {
                n: m if n in ACTOR_IDS else self.fields[n].get_db_prep_value(m, connection)
                for n, m in marks.items()
            }
            try:
                qs = self.build(_StandIn(actor, marks), **params)
                versions.append(_Compiled(qs, using, prepared))
            except EmptyResultSet:  # .none(): nothing to read
                versions.append(None)
        first, second = versions
        if (first is None) != (second is None) or (first and first.shape() != second.shape()):
            raise ValueError(
                f"{self.build.__qualname__}: a value changes from one compilation to the "
                "next; make it a parameter of the statement"
            )
        self._compiled[key] = first
        return first

    def bind(self, actor, *, then=None, **params) -> Read:
        wanted = [name for name in self.fields if name not in ACTOR_IDS]
        if sorted(params) != sorted(wanted):
            raise TypeError(f"{self.build.__qualname__} takes the parameters {wanted}")
        using = router.db_for_read(self.model)
        compiled = self._compile(using, actor)
        if compiled is None:
            return Read(None, None, using, then)
        connection = connections[using]
        values = {name: getattr(actor, name, None) for name in ACTOR_IDS} | params
        bound = list(compiled.params)
        for i, name in compiled.slots:
            was = bound[i]
            # an id in the type the compiler gave its marker; anything else as its field
            # prepares it
            bound[i] = (
                type(was)(values[name])
                if isinstance(was, int)
                else self.fields[name].get_db_prep_value(values[name], connection)
            )
        return Read(compiled, bound, using, then)

    def fetch(self, actor, *, then=None, **params):
        return run(self.bind(actor, then=then, **params))[0]


def run(*reads: Read) -> list:
    """The results of ``reads``, in their order; each is one query, counted as such. On
    PostgreSQL (psycopg 3) they go in one round trip, in pipeline mode: sent together,
    their results read as they come. Where parameters are bound on the server
    (``server_side_binding``, the default), each statement is also prepared once per
    connection, so the server no longer plans it on every request either."""
    todo = [r for r in reads if r.compiled is not None]
    rows: dict[int, list] = {}
    if todo:
        using = todo[0].using
        if any(r.using != using for r in todo):
            raise ValueError("the reads of one run share a database")
        connection = connections[using]
        connection.ensure_connection()
        raw = connection.connection
        pipelined = len(todo) > 1 and _pipeline_supported(raw)
        with (
            connection.wrap_database_errors,
            _prepared(connection, raw),
            raw.pipeline() if pipelined else nullcontext(),
        ):
            cursors = []
            for read in todo:
                cursor = connection.cursor()
                cursor.execute(read.compiled.sql, read.params)
                cursors.append(cursor)
            for read, cursor in zip(todo, cursors, strict=True):
                rows[id(read)] = cursor.fetchall()
                cursor.close()
    return [r.result(rows.get(id(r), ())) for r in reads]


def _pipeline_supported(raw) -> bool:
    return hasattr(raw, "pipeline") and _libpq_pipelines()


@cache
def _libpq_pipelines() -> bool:
    import psycopg

    return psycopg.Pipeline.is_supported()


@contextmanager
def _prepared(connection, raw):
    """Statements run in here are prepared (psycopg 3, parameters bound on the server; a
    transaction-pooling pgbouncer, for which that binding is switched off, would lose
    them): a threshold of 0 prepares each at its first run on the connection, and runs
    it by name afterwards. Outside, the connection prepares nothing, as Django set it."""
    binds = connection.settings_dict.get("OPTIONS", {}).get("server_side_binding") is True
    if not (binds and hasattr(raw, "prepare_threshold")):
        yield
        return
    before = raw.prepare_threshold
    raw.prepare_threshold = 0
    try:
        yield
    finally:
        raw.prepare_threshold = before


def first_of(qs):
    """What ``qs.first()`` runs, as a queryset: its first row in its own order, else by
    primary key."""
    return (qs if qs.ordered else qs.order_by("pk"))[:1]
