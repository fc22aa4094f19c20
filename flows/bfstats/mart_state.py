"""Is a mart built by an interrupted run still what this run would build? Then a resume loads
it as it is instead of building it again.

A mart's fingerprint, taken right after it is built and again when a run resumes:
- what it was built from: the run's `as_of` and dbt vars, dbt's checksums of the mart's SQL and
  of every node upstream of it (ephemeral models, seeds), the mart's config (contract, settings),
  and the project's own macros;
- the data it read: per raw source table, its active parts, rows and newest part
  (a write, a merge, a TRUNCATE or a reload changes them);
- the table itself: its uuid (a rebuild or a drop and re-create changes it) and its rows.
Equal fingerprints: nothing changed the mart since it was built, so reuse it. Anything else
(including a background merge of a raw table, which changes nothing in the data but cannot be
told apart cheaply) rebuilds it, as a fresh run would.
"""

from __future__ import annotations

import hashlib
import json

from sqlglot import exp

from bfstats.marts import lineage, source_ids


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def code_fingerprint(manifest, unique_ids: list[str], dbt_vars: dict) -> str:
    """What the nodes are built from, as dbt parsed it."""
    nodes = manifest.nodes
    upstream = lineage(nodes, unique_ids)
    packages = {nodes[uid].package_name for uid in unique_ids}
    macros = sorted(
        (m.unique_id, hashlib.sha256(m.macro_sql.encode()).hexdigest())
        for m in manifest.macros.values()
        if m.package_name in packages
    )
    return _digest(
        {
            "vars": dbt_vars,
            "nodes": sorted((uid, nodes[uid].checksum.checksum) for uid in upstream),
            "config": [nodes[uid].config.to_dict() for uid in sorted(unique_ids)],
            "macros": macros,
        }
    )


def relations(manifest, unique_ids: list[str], with_nodes: bool = True) -> list[str]:
    """`database.table` of the nodes themselves (unless not `with_nodes`) and of the raw sources
    they read. Not the seeds' tables: every run loads them again from their CSV files (new
    tables, new parts), whose content the code fingerprint holds (dbt's checksum of each file)."""
    nodes, sources = manifest.nodes, manifest.sources
    found = {f"{nodes[uid].schema}.{nodes[uid].alias}" for uid in unique_ids if with_nodes}
    for uid in source_ids(manifest, unique_ids):
        found.add(f"{sources[uid].schema}.{sources[uid].identifier}")
    return sorted(found)


def in_relations(database: str, table: str) -> exp.Expression:
    relation = exp.func("concat", exp.column(database), exp.Literal.string("."), exp.column(table))
    kind = exp.DataType.build("Array(String)", dialect="clickhouse")
    return exp.func("has", exp.Placeholder(this="relations", kind=kind), relation)


def state_queries(relations: list[str]) -> list[tuple[str, str, dict]]:
    """(name, SQL, parameters) of the queries whose rows make the data part of a fingerprint:
    the tables' uuids and rows, and their active parts."""
    parameters = {"relations": relations}
    tables = (
        exp.select("database", "name", exp.func("toString", exp.column("uuid")), "total_rows")
        .from_(exp.table_("tables", db="system"))
        .where(in_relations("database", "name"))
        .order_by("database", "name")
    )
    parts = (
        exp.select(
            "database",
            "table",
            exp.func("count"),
            exp.func("sum", exp.column("rows")),
            exp.func("max", exp.column("modification_time")),
        )
        .from_(exp.table_("parts", db="system"))
        .where(exp.and_(exp.column("active"), in_relations("database", "table")))
        .group_by("database", "table")
        .order_by("database", "table")
    )
    return [
        ("state of tables", tables.sql(dialect="clickhouse"), parameters),
        ("state of parts", parts.sql(dialect="clickhouse"), parameters),
    ]


def _data_digest(manifest, unique_ids: list[str], source, with_nodes: bool) -> str:
    states = [
        source.rows(name, sql, parameters)
        for name, sql, parameters in state_queries(relations(manifest, unique_ids, with_nodes))
    ]
    return _digest(states)


def fingerprint(manifest, unique_ids: list[str], dbt_vars: dict, source) -> dict:
    """The fingerprint of the nodes (a mart, or the seeds) now; see the module's docstring."""
    return {
        "code": code_fingerprint(manifest, unique_ids, dbt_vars),
        "data": _data_digest(manifest, unique_ids, source, with_nodes=True),
    }


def partial_fingerprint(manifest, unique_ids: list[str], dbt_vars: dict, source) -> dict:
    """What a mart built in parts is built from (code, vars, raw data), without the table,
    which each part changes. Recorded with its first part: a run that resumes after the build
    was cut short builds the mart again, and when this is unchanged the rebuilt rows are the
    rows already loaded (the same code on the same data for the same as_of), so the loads go
    on from their checkpoints. It never equals a whole build's fingerprint, so a mart cut short
    is never reused."""
    return {
        "partial": {
            "code": code_fingerprint(manifest, unique_ids, dbt_vars),
            "sources": _data_digest(manifest, unique_ids, source, with_nodes=False),
        }
    }
