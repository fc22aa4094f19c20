"""The order in which a run builds and loads its tables: a mart built in parts first, then the
largest first.

The SQLite writer is the run's bottleneck: one table loads at a time, and every mart builds in
ClickHouse beside it. Built in the catalog's order, a mart with a long build and a short load
(PlayerBestScores: 10 s for a 2.6 s load at scale 1) held up one with a long load
(PlayerMapStats: 3 M rows) and the writer sat idle. Largest first, the small marts build while
the large ones load, and the writer goes from one load to the next.

A mart that builds in parts (`meta.build_in_parts`, build_parts.py) comes first whatever its
size: its load starts with its first part, so the writer is busy soonest (ServerOnlineCounts at
scale 1: 3 s into the run instead of the 7-9 s a whole build of it or of PlayerMapStats takes).

The size of a table is the rows its mart held after its last build: `total_rows` in
`system.tables`, metadata that costs no scan, on the embedded engine and on a server alike. A
table whose mart was never built (a first run) or whose size cannot be read comes after the
others, in the catalog's order; the order only changes how soon the writer is busy, never what
is built, tested or loaded.
"""

from __future__ import annotations

from contextlib import closing

from sqlglot import exp

from bfstats.build_parts import models_in_parts
from bfstats.catalog import TableSpec
from bfstats.clickhouse_source import open_source
from bfstats.errors import first_line
from bfstats.mart_state import in_relations
from bfstats.progress import logger


def rows_query(relations: list[str]) -> tuple[str, dict]:
    """`database`, `name`, `total_rows` of the existing tables among `relations`
    (`database.table`); the relations are a server-side parameter."""
    select = (
        exp.select("database", "name", "total_rows")
        .from_(exp.table_("tables", db="system"))
        .where(in_relations("database", "name"))
    )
    return select.sql(dialect="clickhouse"), {"relations": relations}


def rows_last_built(manifest, tables: list[TableSpec], source) -> dict[str, int]:
    """model -> rows of its table in ClickHouse now, for the tables' marts that exist (the
    query reads only their relations)."""
    relation_of = {}
    for spec in tables:
        node = manifest.nodes[spec.unique_id]
        relation_of[f"{node.schema}.{node.alias}"] = spec.model
    sql, parameters = rows_query(sorted(relation_of))
    found = source.rows("rows of the marts", sql, parameters)
    return {
        relation_of[f"{database}.{name}"]: int(rows)
        for database, name, rows in found
        if rows is not None
    }


def arrange(manifest, tables: list[TableSpec], target) -> list[TableSpec]:
    """`tables` in the order to build and load them: those whose mart builds in parts, then the
    largest (by the rows of their mart's last build), then the never built, each group in the
    order given."""
    if len(tables) < 2:
        return list(tables)
    in_parts = set(models_in_parts(manifest))
    sizes = _sizes(manifest, tables, target)
    rows = sizes or {}

    def described(spec: TableSpec) -> str:
        if spec.model in in_parts:
            return f"{spec.sqlite_table} (built in parts)"
        if spec.model in rows:
            return f"{spec.sqlite_table} ({rows[spec.model]:,} rows at its last build)"
        return f"{spec.sqlite_table} (never built)"

    ordered = sorted(
        tables,
        key=lambda spec: (
            spec.model not in in_parts,
            spec.model not in rows,
            -rows.get(spec.model, 0),
        ),
    )
    if sizes is not None:
        logger().info(
            "Order of the builds and loads: %s",
            ", ".join(described(spec) for spec in ordered),
        )
    return ordered


def _sizes(manifest, tables: list[TableSpec], target) -> dict[str, int] | None:
    """`rows_last_built`, or None (logged) when ClickHouse cannot tell."""
    try:
        with closing(open_source(target)) as source:
            return rows_last_built(manifest, tables, source)
    except Exception as error:  # an optimisation only: any order is right
        logger().info(
            "The sizes of the marts cannot be read (%s): the builds and loads go in the "
            "catalog's order, a mart built in parts first",
            first_line(error),
        )
        return None
