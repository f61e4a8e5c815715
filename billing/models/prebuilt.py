"""Querysets that cost more to build and compile than to run: built once per process, or built
and compiled to SQL once per process."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import cast

from django.db import connections
from django.db.models import Model, Prefetch, QuerySet
from django.db.models.sql import Query


def built_once[Q: QuerySet](build: Callable[[], Q]) -> Callable[[], Q]:
    """`build()` made at the first call and kept; each call returns a fresh clone of it to
    filter and read. Resolving an annotation's subqueries (copying every expression of them)
    took a customer page about 1.5 ms a queryset, more than PostgreSQL takes to run it. A
    clone shares those resolved expressions, which nothing changes once resolved (as a class
    based view's `queryset` is cloned for each request). The kept queryset is never read."""
    kept = functools.cache(build)
    return lambda: kept().all()


class CompiledOnce[M: Model]:
    """A queryset built and compiled to SQL once per process and shape, then run with each
    call's values: `CompiledOnce(build, customer=int)` and `query(page, customer=pk)` for
    `build(page, customer=pk)`.

    Django builds a queryset and compiles its SQL anew at every use: on a customer page viewed
    for the first time, compiling its dozen queries was a third of the page's time, more than
    PostgreSQL took to run them. Here `build` runs with stand-ins for the values (ints,
    aware datetimes or strs no real value takes), its SQL is compiled, and each call runs that
    SQL with its own values in the stand-ins' places, reading the rows into model instances
    (select_related and prefetch_related included) as Django does.

    Only for a query whose SQL does not depend on the values, each passed straight into a
    filter of the query itself: the positional `shape` arguments (a page number: LIMIT and
    OFFSET are written into the SQL) key their own compiled SQL (the SHAPES_KEPT last used).
    Compiling refuses anything else, by building twice with two sets of stand-ins: SQL that
    differs, a parameter that differs but is no stand-in (a value computed from one), a
    value missing from the parameters (one Python reads), or a prefetch whose query differs
    (a value it would freeze). When `VERIFY` is on (the tests turn it on for the whole suite),
    every call also compiles the queryset with the real values and fails unless SQL and
    parameters match.

    Each value must be of its declared type (an int is not a bool, a datetime is aware); an int
    no column holds (beyond 64 bits) is left to Django's own compiling, which matches no row.
    The queryset returned is read as built (iterated, `len`, `bool`, `count()`: its SQL
    counted); anything that derives another queryset from it (a filter, a slice, `exists()`,
    `first()`, `repr`) gets one built anew from the values, as Django would.
    """

    VERIFY = False
    # Shapes kept compiled, the least recently used given up first: page numbers come from
    # requests, and the first few are nearly all that staff open.
    SHAPES_KEPT = 32

    def __init__(self, build: Callable[..., QuerySet[M]], **values: type):
        unknown = set(values.values()) - set(_STAND_INS)
        if unknown:
            raise TypeError(f"No stand-in for values of type {unknown}.")
        self._build = build
        self._kinds = values
        self._stand_ins, self._other_stand_ins = (
            {
                name: _STAND_INS[kind](position, set_)
                for position, (name, kind) in enumerate(values.items())
            }
            for set_ in (0, 1)
        )
        self._compiled: OrderedDict[tuple, _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, *shape: Hashable, **values: object) -> QuerySet[M]:
        self._check(values)
        if any(type(v) is int and not _BIGINT_MIN <= v <= _BIGINT_MAX for v in values.values()):
            return self._build(*shape, **values)
        kept = self._kept(shape)
        ops = connections[kept.alias].ops
        params = tuple(
            slot.value_of(values, ops) if isinstance(slot, _Slot) else slot for slot in kept.params
        )
        query = kept.queryset.all()
        # Django writes hints (the first instance) into a Prefetch's queryset as it prefetches:
        # each call has its own, so nothing of one call's rows stays with the kept queryset.
        lookups = getattr(query, "_prefetch_related_lookups", ())
        query._prefetch_related_lookups = tuple(map(_own_prefetch, lookups))  # type: ignore[attr-defined]
        query.query.__class__ = _CompiledQuery  # as Query.chain(klass) does
        compiled = cast(_CompiledQuery, query.query)
        compiled.compiled, compiled.compiled_params = kept, params
        compiled.rebuild = functools.partial(self._build, *shape, **values)
        if self.VERIFY:
            direct = self._build(*shape, **values)
            assert direct.query.get_compiler(using=direct.db).as_sql() == (kept.sql, params), (
                "compiled once, the SQL differs from the query's own"
            )
        return query

    def _check(self, values: dict[str, object]) -> None:
        if values.keys() != self._kinds.keys():
            raise TypeError(f"Values {sorted(values)} given for {sorted(self._kinds)}.")
        for name, value in values.items():
            kind = self._kinds[name]
            if type(value) is not kind:
                raise TypeError(f"{name} is a {kind.__name__}, not {type(value).__name__}.")
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                raise TypeError(f"{name} is an aware datetime, not a naive one.")

    def _kept(self, shape: tuple) -> _Compiled:
        key = tuple((type(part), part) for part in shape)  # page 1, not True
        with self._lock:
            kept = self._compiled.get(key)
            if kept is not None:
                self._compiled.move_to_end(key)
                return kept
        kept = self._compile(shape)
        with self._lock:
            self._compiled[key] = kept
            while len(self._compiled) > max(1, self.SHAPES_KEPT):
                self._compiled.popitem(last=False)
        return kept

    def _compile(self, shape: tuple) -> _Compiled:
        queryset = self._build(*shape, **self._stand_ins)
        other = self._build(*shape, **self._other_stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        other_sql, other_params = other.query.get_compiler(using=other.db).as_sql()
        if other_sql != sql or len(other_params) != len(params):
            raise TypeError("The query's SQL depends on its values: it cannot be compiled once.")
        if _prefetch_sql(queryset) != _prefetch_sql(other):
            raise TypeError("A prefetch of the query depends on its values: build it without.")
        ops = compiler.connection.ops
        forms, other_forms = _forms(self._stand_ins, ops), _forms(self._other_stand_ins, ops)
        slots: list[object] = []
        for param, other_param in zip(params, other_params, strict=True):
            slot = forms.get((type(param), param)) if _hashable(param) else None
            other_slot = (
                other_forms.get((type(other_param), other_param))
                if _hashable(other_param)
                else None
            )
            if slot != other_slot or (slot is None and param != other_param):
                raise TypeError(
                    "A parameter of the query is computed from a value: pass values straight "
                    "into its filters to compile it once."
                )
            slots.append(param if slot is None else slot)
        missing = set(self._stand_ins) - {slot.name for slot in slots if isinstance(slot, _Slot)}
        if missing or any(str(v) in sql for v in self._stand_ins.values()):
            raise TypeError(
                f"The values {sorted(missing) or sorted(self._stand_ins)} are not the query's "
                "parameters: its SQL depends on them, so it cannot be compiled once."
            )
        return _Compiled(
            alias=compiler.connection.alias,
            queryset=queryset,
            sql=sql,
            params=tuple(slots),
            select=compiler.select,
            klass_info=compiler.klass_info,
            annotation_col_map=compiler.annotation_col_map,
            col_count=compiler.col_count,
            has_extra_select=compiler.has_extra_select,
        )


def _forms(stand_ins: dict[str, object], ops) -> dict[tuple[type, object], _Slot]:
    """Each stand-in as the parameters carry it: as given, or (a datetime, on a database without
    a datetime type, SQLite) as the backend adapts it."""
    forms: dict[tuple[type, object], _Slot] = {}
    for name, value in stand_ins.items():
        forms[type(value), value] = _Slot(name, adapted=False)
        if isinstance(value, dt.datetime):
            adapted = ops.adapt_datetimefield_value(value)
            forms.setdefault((type(adapted), adapted), _Slot(name, adapted=True))
    return forms


def _prefetch_sql(queryset: QuerySet) -> list:
    """The SQL of every prefetch's own queryset, nested ones included."""
    found: list = []
    for lookup in getattr(queryset, "_prefetch_related_lookups", ()):
        inner = getattr(lookup, "queryset", None)
        if inner is not None:
            found.append(
                (str(lookup.prefetch_to), inner.query.sql_with_params(), _prefetch_sql(inner))
            )
    return found


def _own_prefetch(lookup: object) -> object:
    if not isinstance(lookup, Prefetch) or lookup.queryset is None:
        return lookup
    own = copy.copy(lookup)
    own.queryset = lookup.queryset.all()
    return own


@dataclass(frozen=True)
class _Slot:
    """Where a call's value goes among the compiled parameters, adapted as its stand-in was."""

    name: str
    adapted: bool

    def value_of(self, values: dict[str, object], ops) -> object:
        value = values[self.name]
        return ops.adapt_datetimefield_value(value) if self.adapted else value


@dataclass(frozen=True)
class _Compiled:
    alias: str
    queryset: QuerySet
    sql: str
    params: tuple
    select: list
    klass_info: dict | None
    annotation_col_map: dict
    col_count: int
    has_extra_select: bool


class _CompiledQuery(Query):
    """A Query whose compiler does not compile: it hands over the SQL compiled once. Anything
    deriving another query from it gets the query built anew from the call's values."""

    compiled: _Compiled
    compiled_params: tuple
    rebuild: Callable[[], QuerySet]

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        compiler = super().get_compiler(using, connection, elide_empty)
        kept = self._compiled_for(compiler.connection.alias)
        compiler.select, compiler.klass_info = kept.select, kept.klass_info
        compiler.annotation_col_map, compiler.col_count = kept.annotation_col_map, kept.col_count
        compiler.has_extra_select = kept.has_extra_select
        sql, params = kept.sql, self.compiled_params
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        return compiler

    def get_count(self, using):
        """`count()`: the compiled SQL counted, as Django counts a query it compiles."""
        kept = self._compiled_for(using)
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({kept.sql}) AS counted", self.compiled_params)
            return int(cursor.fetchone()[0])

    def _compiled_for(self, alias: str) -> _Compiled:
        if alias != self.compiled.alias:
            raise TypeError(f"Compiled for the database {self.compiled.alias!r}.")
        return self.compiled

    def clone(self):
        return self.rebuild().query


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1

# Two sets of values, one per stand-in position and kind, which no real row, moment or text
# takes (an int within a 32-bit column's range: Django compiles a lookup beyond a column's
# range to no rows).
_STAND_INS: dict[type, Callable[[int, int], object]] = {
    int: lambda position, set_: -2_147_000_017 - 100 * set_ - position,
    dt.datetime: lambda position, set_: dt.datetime(
        1903 + 4 * set_, 1, 1, 0, 0, position, 17, tzinfo=dt.UTC
    ),
    str: lambda position, set_: f"\x1fstand-in-{set_}-{position}\x1f",
}
