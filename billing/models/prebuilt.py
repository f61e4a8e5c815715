"""Querysets that cost more to build and compile than to run: built once per process, or built
and compiled to SQL once per process."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import cast

from django.db import connections
from django.db.models import Model, QuerySet
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
    PostgreSQL took to run them. Here `build` runs once with a stand-in for each value (an
    int, a datetime or a str no real value takes), its SQL is compiled, and each call runs that
    SQL with its own values in the stand-ins' places, reading the rows into model instances
    (select_related and prefetch_related included) as Django does.

    For a query whose SQL does not depend on the values, only on the positional `shape`
    arguments (a page number: LIMIT and OFFSET are written into the SQL), which key it (up to
    SHAPES_KEPT of them). A
    value the SQL would not carry as a parameter (one Python reads, or `__in` of a list) is
    refused when compiling: its stand-in would be missing from the parameters. When
    `VERIFY` is on (the tests turn it on for the whole suite), every call also builds and
    compiles the queryset with the real values and fails unless SQL and parameters match.

    The queryset returned is read as it is (iterated, counted, tested): another filter or slice
    on it raises TypeError, since the SQL would no longer be its own.
    """

    VERIFY = False
    # Shapes kept compiled, the first compiled given up first: page numbers come from requests,
    # and the first few are nearly all that staff open.
    SHAPES_KEPT = 32

    def __init__(self, build: Callable[..., QuerySet[M]], **values: type):
        unknown = set(values.values()) - set(_STAND_INS)
        if unknown:
            raise TypeError(f"No stand-in for values of type {unknown}.")
        self._build = build
        self._stand_ins = {
            name: _STAND_INS[kind](position) for position, (name, kind) in enumerate(values.items())
        }
        self._compiled: dict[tuple, _Compiled] = {}

    def __call__(self, *shape: Hashable, **values: object) -> QuerySet[M]:
        if values.keys() != self._stand_ins.keys():
            raise TypeError(f"Values {sorted(values)} given for {sorted(self._stand_ins)}.")
        kept = self._compiled.get(shape)
        if kept is None:
            kept = self._compile(shape)
            while len(self._compiled) >= self.SHAPES_KEPT:  # deep pages, asked for one by one
                with contextlib.suppress(StopIteration, KeyError):  # another thread's done it
                    del self._compiled[next(iter(self._compiled))]
            self._compiled[shape] = kept
        ops = connections[kept.alias].ops
        params = tuple(
            slot.value_of(values, ops) if isinstance(slot, _Slot) else slot for slot in kept.params
        )
        query = kept.queryset.all()
        query.query.__class__ = _CompiledQuery  # as Query.chain(klass) does
        compiled = cast(_CompiledQuery, query.query)
        compiled.compiled, compiled.compiled_params = kept, params
        if self.VERIFY:
            direct = self._build(*shape, **values)
            assert direct.query.get_compiler(using=direct.db).as_sql() == (kept.sql, params), (
                "compiled once, the SQL differs from the query's own"
            )
        return query

    def _compile(self, shape: tuple) -> _Compiled:
        queryset = self._build(*shape, **self._stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        # Each stand-in as the parameters carry it: as given, or (a datetime, on a database
        # without a datetime type, SQLite) as the backend adapts it.
        ops = compiler.connection.ops
        forms: dict[tuple[type, object], _Slot] = {}
        for name, value in self._stand_ins.items():
            forms[type(value), value] = _Slot(name, adapted=False)
            if isinstance(value, dt.datetime):
                adapted = ops.adapt_datetimefield_value(value)
                forms.setdefault((type(adapted), adapted), _Slot(name, adapted=True))
        slots: list[object] = []
        found = set()
        for param in params:
            slot = forms.get((type(param), param)) if _hashable(param) else None
            slots.append(param if slot is None else slot)
            if slot is not None:
                found.add(slot.name)
        missing = set(self._stand_ins) - found
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
    """A Query whose compiler does not compile: it hands over the SQL compiled once."""

    compiled: _Compiled
    compiled_params: tuple

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        compiler = super().get_compiler(using, connection, elide_empty)
        kept = self.compiled
        if compiler.connection.alias != kept.alias:
            raise TypeError(f"Compiled for the database {kept.alias!r}.")
        compiler.select, compiler.klass_info = kept.select, kept.klass_info
        compiler.annotation_col_map, compiler.col_count = kept.annotation_col_map, kept.col_count
        compiler.has_extra_select = kept.has_extra_select
        sql, params = kept.sql, self.compiled_params
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        return compiler

    def clone(self):
        raise TypeError(
            "A query compiled once is read as built: build the filter or slice into it."
        )


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# One value per stand-in position of each kind, which no real row, moment or text takes (an int
# within a 32-bit column's range: Django compiles a lookup beyond a column's range to no rows).
_STAND_INS: dict[type, Callable[[int], object]] = {
    int: lambda position: -2_147_000_017 - position,
    dt.datetime: lambda position: dt.datetime(1903, 1, 1, 0, 0, position, 17, tzinfo=dt.UTC),
    str: lambda position: f"\x1fstand-in-{position}\x1f",
}
