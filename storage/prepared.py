"""Hot-path statements compiled once per database and run straight on the transaction's DBAPI cursor.

Every chat message runs about nine statements. Through `Connection.execute` each costs about three
times what SQLite itself spends on it (execution context, result object, events), and that was a
third of a follow-up's time (bench/record_followup.py). A `Prepared` statement keeps what
SQLAlchemy works out per call (the SQL text, parameter order, the column types' bind and result
processors, Python-side column defaults) per dialect and set of parameter names, then runs the
DBAPI cursor of the same connection, in the same transaction. The SQL and the value conversions
are SQLAlchemy's own, so rows read or written either way are the same; driver errors are raised
as SQLAlchemy's exceptions, as `Connection.execute` would.

Not for: expanding IN parameters, reading back SQL-side defaults, anything off the hot path.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]


@dataclass
class _Plan:
    sql: str
    compiled: SQLCompiler
    order: tuple[str, ...] | None  # parameter names in placeholder order; None for named placeholders
    bind: dict[str, Processor]
    defaults: tuple[tuple[str, Processor], ...]  # Python-side column defaults (insert/update prefetch)
    row: Callable[..., Any] | None  # the row type, for statements that return rows
    columns: tuple[Any, ...]  # what it returns
    # the columns' result processors; some depend on the driver's type codes, known at the first run
    result: tuple[Processor | None, ...] | None = None
    result_processed: bool = False


class Prepared:
    """One Core statement (built once, at import) run with dicts of parameters."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, frozenset[str]], _Plan] = {}

    # -- running ---------------------------------------------------------------------------------
    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run it; the number of rows changed."""
        _, cursor = self._plan_run(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        plan, cursor = self._plan_run(conn, params)
        try:
            _result_processors(plan, cursor, conn.dialect)
            return [self._row(plan, r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None

    def insert(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run an INSERT; the new row's integer primary key."""
        plan, cursor = self._plan_run(conn, params)
        try:
            if plan.row is not None:  # RETURNING
                return int(cursor.fetchone()[0])
            return int(cursor.lastrowid)
        finally:
            cursor.close()

    # -- internals -------------------------------------------------------------------------------
    def _plan_run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        dialect = conn.dialect
        plan = self._plans.get((dialect.name, frozenset(params)))
        if plan is None:
            plan = self._plans[(dialect.name, frozenset(params))] = _build(self.statement, dialect, params)
        values = plan.compiled.construct_params(params)  # literals in the statement, required-ness
        for name, default in plan.defaults:
            if name not in params:
                values[name] = default(None)
        bind = plan.bind
        if plan.order is None:
            args: Any = {k: (bind[k](v) if k in bind else v) for k, v in values.items()}
        else:
            args = tuple(bind[k](values[k]) if k in bind else values[k] for k in plan.order)
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(plan.sql, args)
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(plan.sql, args, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
        return plan, cursor

    @staticmethod
    def _row(plan: _Plan, raw: Sequence[Any]) -> Any:
        assert plan.row is not None
        if not plan.result_processed:
            return plan.row(*raw)
        assert plan.result is not None
        return plan.row(*[p(v) if p is not None else v for p, v in zip(plan.result, raw, strict=True)])


def _result_processors(plan: _Plan, cursor: Any, dialect: Dialect) -> None:
    if plan.result is None:
        codes = [d[1] for d in cursor.description or ()]
        plan.result = tuple(c.type.dialect_impl(dialect).result_processor(dialect, code)
                            for c, code in zip(plan.columns, codes, strict=True))
        plan.result_processed = any(p is not None for p in plan.result)


def _build(statement: Executable, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=sorted(params))
    assert isinstance(compiled, SQLCompiler)
    bind: dict[str, Processor] = {}
    for parameter, name in compiled.bind_names.items():
        if parameter.expanding:
            raise ValueError("Prepared statements take no expanding parameters")
        processor = parameter.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            bind[name] = processor
    defaults = []
    for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
        default = column.default if column in compiled.insert_prefetch else column.onupdate
        if default is None or not (default.is_scalar or default.is_callable):  # type: ignore[attr-defined]
            raise ValueError(f"Prepared statements take only Python-side defaults ({column})")
        value = default.arg  # type: ignore[attr-defined]
        defaults.append((column.key, value if default.is_callable else (lambda _ctx, v=value: v)))  # type: ignore[attr-defined,misc]
    row, columns = None, ()
    returns_rows = bool(compiled.effective_returning) or getattr(statement, "is_select", False)
    returning = getattr(statement, "exported_columns", None) if returns_rows else None
    if returning is not None:
        keys = list(returning.keys())
        row = namedtuple("Row", keys)  # type: ignore[misc]  # attribute access like SQLAlchemy's Row
        columns = tuple(returning)
    return _Plan(
        sql=compiled.string,
        compiled=compiled,
        order=tuple(compiled.positiontup or ()) if compiled.positional else None,
        bind=bind,
        defaults=tuple(defaults),
        row=row,
        columns=columns,
    )
