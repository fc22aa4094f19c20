"""The dbt-sqlite checks of the published tables, generated from the catalog (SPEC section 5).

Nothing here is a copy of the contract. For each mart of the catalog, the checks come from:
- the SQLite table as it is in the file (PRAGMA table_info / index_list): a PRIMARY KEY or
  UNIQUE index makes uniqueness of its columns checked, a declared NOT NULL makes not-null
  checked; neither is scanned again. A table that does not exist yet is taken as the project's
  DDL will create it;
- the model's ClickHouse types: a non-Nullable column stored in a nullable SQLite column gets a
  not_null check; every DateTime/Date column a `utc_instant` check (the table's as_of column,
  when the run's as_of is given, an `equals` check against it instead); an Enum its member names;
- the mart's own dbt data tests (bfstats.mart_tests): accepted_range -> value_between,
  accepted_values -> accepted_values, relationships to a seed -> accepted_values of the seed's
  values, relationships to another mart -> relationships between the two SQLite tables, a
  singular test over marts -> the same query translated to SQLite by sqlglot, not_null and
  unique tests -> a scan only where the table's schema does not already guarantee them.
A check that reads several tables runs only when all of them are checked together (dbt's
cautious indirect selection), so a service checked alone never compares with another run's table.

`plan()` returns the checks per table with the reason for each and what the schema guarantees;
`render_yaml()` turns them into the sources file of the generated dbt-sqlite project
(bfstats.check_project writes and runs it).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlglot
import yaml
from sqlglot import exp
from sqlglot.errors import SqlglotError

from bfstats import as_of as as_of_text
from bfstats import mart_tests
from bfstats.catalog import Catalog, TableSpec, pascal_case
from bfstats.sqlite_schema import drift
from bfstats.sqlite_schema.ddl import table_ddl
from bfstats.sqlite_schema.types import INTEGER, REAL, translate

SOURCE = "target"  # the dbt source that declares the SQLite tables
SINGULAR_PREFIX = "sqlite_"  # a translated singular test is named sqlite_<its file stem>

# Catalog columns that may have no check at all: neither a schema guarantee (PRIMARY KEY, NOT
# NULL) nor a generated test. Each entry says why that is acceptable; tests/test_sqlite_checks.py
# fails for any other column left with nothing. Key: (SQLite table, SQLite column).
UNCHECKED: dict[tuple[str, str], str] = {
    # Empty today: every column of the eight tables is NOT NULL in both the project's DDL and the
    # API's, or gets a not_null check. A nullable free-text column the model may leave NULL
    # (nothing to check beyond its declared type) would be listed here with its reason.
}

# Generic mart tests that need no SQLite counterpart, and why.
_NOT_REPEATED = {
    "not_null": "the SQLite column is declared NOT NULL",
    "unique": "the SQLite table's primary key or a unique index covers these columns",
    "unique_combination": "the SQLite table's primary key or a unique index covers these columns",
}


class CheckPlanError(ValueError):
    """A mart test cannot be turned into a SQLite check; the message says which and what to do."""


@dataclass(frozen=True)
class Check:
    table: str  # the SQLite table the dbt test is attached to
    test: str  # dbt-sqlite test: not_null, unique_key, value_between, accepted_values, ...
    column: str | None  # SQLite column of a column test
    arguments: tuple[tuple[str, object], ...] = ()
    tables: tuple[str, ...] = ()  # every SQLite table it reads
    columns: tuple[str, ...] = ()  # the SQLite columns of `table` it constrains
    name: str | None = None  # explicit dbt test name (translated singular tests)

    @property
    def cross_table(self) -> bool:
        return len(self.tables) > 1

    def describe(self) -> str:
        """e.g. `value_between(Rank, min_value=1, max_value=3)`."""
        inside = [self.column] if self.column else []
        inside += [f"{key}={value}" for key, value in self.arguments if key != "query"]
        label = self.name or self.test
        return f"{label}({', '.join(inside)})" if inside else label


@dataclass
class TablePlan:
    spec: TableSpec
    exists: bool  # False: planned against the project's DDL, the table is not in the file yet
    unique_keys: tuple[frozenset[str], ...]  # lower-cased columns of the PK and unique indexes
    checks: dict[Check, list[str]] = field(default_factory=dict)  # check -> its reasons
    guarantees: dict[str, list[str]] = field(default_factory=dict)  # column -> schema facts
    not_repeated: list[str] = field(default_factory=list)  # mart tests the schema covers

    @property
    def table(self) -> str:
        return self.spec.sqlite_table

    def add(self, check: Check, reason: str) -> None:
        reasons = self.checks.setdefault(check, [])
        if reason not in reasons:
            reasons.append(reason)

    def coverage(self) -> dict[str, list[str]]:
        """SQLite column -> what checks it: schema guarantees, then the generated checks."""
        report = {
            pascal_case(c.name): list(self.guarantees.get(pascal_case(c.name), ()))
            for c in self.spec.columns
        }
        for check in self.checks:
            for column in check.columns:
                report.setdefault(column, []).append(check.describe())
        return report

    def uncovered(self) -> list[str]:
        return [
            column
            for column, what in self.coverage().items()
            if not what and (self.table, column) not in UNCHECKED
        ]


@dataclass(frozen=True)
class _Schema:
    exists: bool
    not_null: frozenset[str]  # lower-cased SQLite column names declared NOT NULL
    unique_keys: tuple[frozenset[str], ...]  # primary key and unique indexes, lower-cased
    primary_key: tuple[str, ...]
    # Lower-cased columns that lead an index in SQLite's own (BINARY) order: their distinct
    # values can be walked with one index seek each instead of a scan of every row.
    index_leads: frozenset[str] = frozenset()


def _schema(conn: sqlite3.Connection | None, spec: TableSpec) -> _Schema:
    columns = drift.existing_columns(conn, spec.sqlite_table) if conn is not None else []
    if not columns:  # not created yet: the loader will create it with the project's DDL
        ddl = table_ddl(spec)
        return _Schema(
            False,
            frozenset(c.name.lower() for c in ddl.columns if c.not_null),
            (frozenset(name.lower() for name in ddl.primary_key),),
            ddl.primary_key,
            frozenset(
                columns[0].lower()
                for columns in (ddl.primary_key, *(index.columns for index in ddl.indexes))
                if columns
            ),
        )
    key = tuple(c.name for c in sorted(columns, key=lambda c: c.pk_position) if c.pk_position)
    keys = [frozenset(name.lower() for name in key)] if key else []
    keys += [
        frozenset(name.lower() for name in index.columns)
        for index in drift.existing_indexes(conn, spec.sqlite_table)
        if index.unique and not index.partial and None not in index.columns
    ]
    return _Schema(
        True,
        frozenset(c.name.lower() for c in columns if c.not_null),
        tuple(keys),
        key,
        _index_leads(conn, spec.sqlite_table),
    )


def _index_leads(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    """Columns that are the first key of one of the table's indexes (the primary key's too),
    compared BINARY there: an index with another collation orders values differently from the
    column's own comparisons, so the walk could not use it."""
    leads = set()
    for index in drift.existing_indexes(conn, table):
        first = conn.execute(
            'select "name", "coll" from pragma_index_xinfo(?, \'main\') '
            'where "key" = 1 order by "seqno" limit 1',
            (index.name,),
        ).fetchone()
        if first and first[0] is not None and not index.partial and first[1] == "BINARY":
            leads.add(first[0].lower())
    return frozenset(leads)


def plan(
    catalog: Catalog,
    conn: sqlite3.Connection | None,
    tests: Iterable[mart_tests.MartTest] | None = None,
    *,
    as_of: str | None = None,
) -> list[TablePlan]:
    """The checks of every catalog table in the file behind `conn` (None: a file without them).
    With the run's `as_of`, a table's as_of column (meta.sqlite_as_of_column) must hold exactly
    that instant; without it (a file checked on its own), it must hold an instant."""
    specs = [spec for service in catalog.services() for spec in service.tables]
    if tests is None:
        # A catalog read from a parsed Manifest (the flow's) has the tests at hand; reading them
        # from the YAML files again cost about 0.1 s of CPU per check invocation (PyYAML).
        models = [spec.model for spec in specs]
        tests = (
            mart_tests.from_manifest(catalog.manifest, models)
            if catalog.manifest is not None
            else mart_tests.load(models)
        )
    tests = list(tests)
    by_model = {spec.model: spec for spec in specs}
    as_of = as_of_text.parse(as_of, "as_of") if as_of else None
    plans = {spec.model: _plan_schema(spec, _schema(conn, spec), as_of) for spec in specs}
    for test in tests:
        _translate(test, plans, by_model)
    return list(plans.values())


def _plan_schema(spec: TableSpec, schema: _Schema, as_of: str | None = None) -> TablePlan:
    table_plan = TablePlan(spec, schema.exists, schema.unique_keys)
    if schema.primary_key:
        key = f"PRIMARY KEY ({', '.join(schema.primary_key)})"
        for column in schema.primary_key:
            table_plan.guarantees.setdefault(_catalog_name(spec, column), []).append(key)
    for column in spec.columns:
        name = column.sqlite_name
        sqlite_type = translate(column.clickhouse_type, model=spec.model, column=column.name)
        if name.lower() in schema.not_null:
            table_plan.guarantees.setdefault(name, []).append("NOT NULL")
        elif sqlite_type.not_null:
            table_plan.add(
                _on_column(spec.sqlite_table, "not_null", name),
                f"model column {column.name} is {column.clickhouse_type}, never NULL, but the "
                "SQLite column is nullable",
            )
        if as_of is not None and column.name == spec.as_of_column:
            # One text comparison per row instead of parsing it (PlayerMapStats.UpdatedAt at
            # scale 1: 3 M values), and a stronger fact: the instant, not only its shape.
            table_plan.add(
                _on_column(spec.sqlite_table, "equals", name, (("value", as_of),)),
                f"the run's as_of (model column {column.name}, meta.sqlite_as_of_column)",
            )
        elif sqlite_type.is_instant:
            # Every row's value is parsed; an indexed column's distinct values suffice (a few
            # thousand hours instead of 4 M rows of ServerOnlineCounts at scale 1).
            walk = (("distinct_by_index", True),) if name.lower() in schema.index_leads else ()
            table_plan.add(
                _on_column(spec.sqlite_table, "utc_instant", name, walk),
                f"ClickHouse type {column.clickhouse_type}: an instant",
            )
        if sqlite_type.is_enum:
            table_plan.add(
                _accepted(spec, column.name, _enum_names(column.clickhouse_type)),
                f"ClickHouse type {column.clickhouse_type}: stored as its member's name",
            )
    columns = tuple(pascal_case(name) for name in spec.primary_key)
    if not _unique_by_schema(table_plan, columns):
        table_plan.add(
            Check(
                spec.sqlite_table,
                "unique_key",
                None,
                (("columns", columns),),
                (spec.sqlite_table,),
                columns,
            ),
            f"the model's key ({', '.join(spec.primary_key)}) is not a PRIMARY KEY or unique "
            "index of the SQLite table",
        )
    return table_plan


def _on_column(table: str, test: str, column: str, arguments: tuple = ()) -> Check:
    """A check of one column of one table."""
    return Check(table, test, column, arguments, (table,), (column,))


def _catalog_name(spec: TableSpec, sqlite_column: str) -> str:
    """The catalog's spelling of an existing SQLite column (SQLite names ignore case)."""
    for column in spec.columns:
        if column.sqlite_name.lower() == sqlite_column.lower():
            return column.sqlite_name
    return sqlite_column


def _enum_names(clickhouse_type: str) -> list[str]:
    parsed = exp.DataType.build(clickhouse_type, dialect="clickhouse")
    while parsed.this == exp.DataType.Type.LOWCARDINALITY:
        parsed = parsed.expressions[0]
    return [member.this.this for member in parsed.expressions]


def _typed(spec: TableSpec, column: str, values: Iterable) -> tuple[list, bool]:
    """Values in the SQLite column's type, and whether dbt must quote them."""
    declared = translate(spec.column(column).clickhouse_type).declared
    if declared == INTEGER:
        return sorted({int(v) for v in values}), False
    if declared == REAL:
        return sorted({float(v) for v in values}), False
    return sorted({str(v) for v in values}), True


def _accepted(spec: TableSpec, column: str, values: Iterable) -> Check:
    typed, quote = _typed(spec, column, values)
    arguments = (("quote", quote), ("values", tuple(typed)))
    return _on_column(spec.sqlite_table, "accepted_values", pascal_case(column), arguments)


def _translate(test: mart_tests.MartTest, plans: dict, by_model: dict) -> None:
    table_plan = plans[test.model]
    spec = table_plan.spec
    table = spec.sqlite_table
    where = (
        f"mart test {test.name} of {test.model}{'.' + test.column if test.column else ''} "
        f"({test.declared_in})"
    )
    if test.where:
        raise CheckPlanError(
            f"{where} has `where: {test.where}`; a SQLite check would cover other rows: "
            "express the condition in a singular test instead"
        )
    if test.is_singular:
        _singular(test, table_plan, by_model, where)
        return
    column = pascal_case(test.column) if test.column else None
    if test.name in ("not_null", "unique", "unique_combination"):
        _schema_or_scan(test, table_plan, column, where)
    elif test.name == "accepted_range":
        arguments = tuple(
            (key, test.argument(key))
            for key in ("min_value", "max_value")
            if test.argument(key) is not None
        )
        table_plan.add(_on_column(table, "value_between", column, arguments), where)
    elif test.name == "accepted_values":
        table_plan.add(_accepted(spec, test.column, test.argument("values")), where)
    elif test.name == "relationships":
        _relationship(test, table_plan, by_model, where)
    else:
        raise CheckPlanError(
            f"{where}: no dbt-sqlite counterpart for test {test.name!r}; add a rule for it in "
            "bfstats/sqlite_checks.py (or a macro in sqlite_checks/macros/)"
        )


def _schema_or_scan(test, table_plan: TablePlan, column: str | None, where: str) -> None:
    table = table_plan.table
    if test.name == "not_null":
        if "NOT NULL" in table_plan.guarantees.get(column, ()):
            table_plan.not_repeated.append(f"{where}: {_NOT_REPEATED['not_null']}")
        else:
            table_plan.add(_on_column(table, "not_null", column), where)
        return
    names = (test.column,) if test.name == "unique" else tuple(test.argument("columns"))
    columns = tuple(pascal_case(name) for name in names)
    if _unique_by_schema(table_plan, columns):
        table_plan.not_repeated.append(f"{where}: {_NOT_REPEATED[test.name]}")
    else:
        table_plan.add(
            Check(table, "unique_key", None, (("columns", columns),), (table,), columns), where
        )


def _unique_by_schema(table_plan: TablePlan, columns: tuple[str, ...]) -> bool:
    """Columns are unique together when a unique key of the table lies within them."""
    wanted = {column.lower() for column in columns}
    return any(key <= wanted for key in table_plan.unique_keys)


def _relationship(test, table_plan: TablePlan, by_model: dict, where: str) -> None:
    spec, target, column = table_plan.spec, test.argument("to"), test.argument("field")
    if target in by_model:
        other = by_model[target].sqlite_table
        name = pascal_case(test.column)
        table_plan.add(
            Check(
                spec.sqlite_table,
                "relationships",
                name,
                (("field", pascal_case(column)), ("to", other)),
                (spec.sqlite_table, other),
                (name,),
            ),
            where,
        )
        return
    values = mart_tests.seed_values(target, column)
    if values is None:
        raise CheckPlanError(
            f"{where}: relationships to {target!r}, which is neither a mart loaded into SQLite "
            "nor a seed; the SQLite file has no such table to compare with: test it in ClickHouse "
            "only by moving it to a singular test, or load that model"
        )
    table_plan.add(_accepted(spec, test.column, values), f"{where}, values of seed {target}")


_REF_JINJA = re.compile(r"""\{\{\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*\}\}""")
_PLACEHOLDER = "__bfstats_table_{}__"


def _singular(test, table_plan: TablePlan, by_model: dict, where: str) -> None:
    missing = [name for name in test.reads if name not in by_model]
    if missing:
        raise CheckPlanError(
            f"{where} reads {', '.join(missing)}, not loaded into SQLite; a singular test that "
            "reads a mart should read marts only (or move the other part into a separate test)"
        )
    specs = [by_model[name] for name in test.reads]
    query, columns = translate_singular(test.sql, specs, where)
    table_plan.add(
        Check(
            table_plan.table,
            "returns_no_rows",
            None,
            (("query", query),),
            tuple(spec.sqlite_table for spec in specs),
            tuple(c for c in columns if any(c == x.sqlite_name for x in table_plan.spec.columns)),
            name=SINGULAR_PREFIX + test.name,
        ),
        where,
    )


def translate_singular(sql: str, specs: list[TableSpec], where: str) -> tuple[str, list[str]]:
    """A singular test's ClickHouse SQL over marts -> the same query over the SQLite tables
    (with `{{ source(...) }}` so dbt knows what it reads), and the SQLite columns it reads."""
    tables = {spec.model: spec for spec in specs}
    model_columns = {c.name: c.sqlite_name for spec in specs for c in spec.columns}
    text = _REF_JINJA.sub(lambda m: _PLACEHOLDER.format(m.group(1)), sql)
    try:
        tree = sqlglot.parse_one(text, read="clickhouse")
    except SqlglotError as error:
        raise CheckPlanError(f"{where} does not parse as ClickHouse SQL ({error})") from None
    read: list[str] = []

    def aggregate_if(node: exp.Expression) -> exp.Expression:
        # ClickHouse's aggIf(value, condition): the aggregate over the rows where condition
        # holds; sumIf gives 0, not NULL, when none does.
        if isinstance(node, exp.CombinedAggFunc) and str(node.this).lower().endswith("if"):
            value, condition = node.expressions
            kind = str(node.this)[:-2].lower()
            default = exp.Literal.number(0) if kind == "sum" else None
            return exp.func(
                kind, exp.Case(ifs=[exp.If(this=condition, true=value)], default=default)
            )
        return node

    def column(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name in model_columns:
            name = model_columns[node.name]
            if name not in read:
                read.append(name)
            return exp.Column(
                this=exp.to_identifier(name, quoted=True), table=node.args.get("table")
            )
        return node

    tree = tree.transform(aggregate_if).transform(column)
    query = tree.sql(dialect="sqlite", comments=False)
    _validate_in_sqlite(query, specs, where)
    for model, spec in tables.items():
        query = query.replace(
            _PLACEHOLDER.format(model), f"{{{{ source('{SOURCE}', '{spec.sqlite_table}') }}}}"
        )
    return query, read


def _validate_in_sqlite(query: str, specs: list[TableSpec], where: str) -> None:
    """Prepare the translated query on empty tables of the project's DDL: a function SQLite
    lacks or a column name that did not map fails here, at generation, not at check time."""
    conn = sqlite3.connect(":memory:")
    try:
        for spec in specs:
            ddl = table_ddl(spec, table_name=_PLACEHOLDER.format(spec.model), with_indexes=False)
            conn.execute(ddl.create_table)
        conn.execute(f"explain {query}")
    except sqlite3.Error as error:
        raise CheckPlanError(
            f"{where} translated to SQLite does not run ({error}): {query}; write it in SQL that "
            "sqlglot can translate (or extend bfstats/sqlite_checks.py: translate_singular)"
        ) from None
    finally:
        conn.close()


def render_yaml(plans: list[TablePlan]) -> str:
    """The sources file of the generated dbt-sqlite project: one source table per SQLite table,
    each check with its reasons in `meta.why`."""
    tables = []
    for table_plan in plans:
        table_tests, column_tests = [], {}
        for check, reasons in table_plan.checks.items():
            entry = _test_entry(check, reasons)
            if check.column is None:
                table_tests.append(entry)
            else:
                column_tests.setdefault(check.column, []).append(entry)
        table: dict = {
            "name": table_plan.table,
            "description": f"Loaded from mart {table_plan.spec.model} by service "
            f"{table_plan.spec.service}.",
        }
        if table_plan.not_repeated:
            table["meta"] = {"not_scanned": table_plan.not_repeated}
        if table_tests:
            table["data_tests"] = table_tests
        table["columns"] = [
            {"name": column, "data_tests": tests} for column, tests in column_tests.items()
        ]
        tables.append(table)
    document = {
        "version": 2,
        "sources": [
            {
                "name": SOURCE,
                "description": "The API's SQLite tables the backfill publishes.",
                "schema": "main",
                "quoting": {"identifier": True},
                "tables": tables,
            }
        ],
    }
    header = (
        "# GENERATED by bfstats.sqlite_checks from the catalog, the marts' dbt tests and the\n"
        "# SQLite file's own schema: do not edit (it is rewritten before every check).\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _test_entry(check: Check, reasons: list[str]) -> dict:
    arguments = dict(check.arguments)
    if check.test == "relationships":
        arguments["to"] = f"source('{SOURCE}', '{arguments['to']}')"
    if "values" in arguments:
        arguments["values"] = list(arguments["values"])
    if "columns" in arguments:
        arguments["columns"] = list(arguments["columns"])
    body: dict = {}
    if check.name:
        body["name"] = check.name
    if arguments:
        body["arguments"] = arguments
    body["config"] = {"meta": {"why": reasons}}
    return {check.test: body}
