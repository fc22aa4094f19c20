"""Build a large mart in parts, so that its first rows load into SQLite while ClickHouse computes
the rest.

A mart whose YAML sets `meta.build_in_parts: {parts: 4, column: server_guid}` (and is
materialized `table_in_parts`, macros/materializations/) is built by one `dbt run` per range of
`column`: the first replaces the table, the others append to it. The ranges follow the first
column of the table's key, so each part's rows come after the previous part's in key order and
the loader, which reads in key order, takes them as they come (`loader.stage_table`).

The bounds come from the primary index of the raw table the mart reads, through ClickHouse's
`mergeTreeIndex` table function: the key at the start of every granule (8192 rows), a few
thousand values that cut the rows into parts of about equal size for the cost of reading the
index (15-25 ms at scale 1), not the column (0.5-0.7 s). Whatever the values, the ranges cover
every value once: [none, b1), [b1, b2), ... [bn, none). The mart is built whole, as a plain
`dbt run` builds it, when the index cannot be read (a server without `mergeTreeIndex`, a raw
table that is not a MergeTree, or several raw tables) or holds too few distinct values; the log
says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlglot import exp

from bfstats.catalog import node_meta
from bfstats.errors import BfstatsError, first_line
from bfstats.progress import logger

META_KEY = "build_in_parts"
# How often a load waiting for a part looks at whether the run was stopped.
_WAIT_SECONDS = 0.25


@dataclass(frozen=True)
class Part:
    """One range of the part column: lower <= value < upper (none: open)."""

    first: bool
    lower: str | None
    upper: str | None

    def var(self) -> dict:
        """The dbt var `build_part` (macros/build_part_filter.sql)."""
        return {"first": self.first, "lower": self.lower, "upper": self.upper}


def ranges(index_values: list[str], parts: int) -> list[Part]:
    """`parts` ranges cut at the index values found at 1/parts, 2/parts... of the sorted values;
    fewer when values repeat (a bound is never repeated), one open range when nothing cuts."""
    values = sorted(index_values)
    bounds: list[str] = []
    for k in range(1, parts):
        value = values[len(values) * k // parts] if values else None
        if value is not None and (not bounds or value > bounds[-1]) and value > values[0]:
            bounds.append(value)
    edges = [None, *bounds, None]
    return [Part(first=i == 0, lower=edges[i], upper=edges[i + 1]) for i in range(len(edges) - 1)]


@dataclass(frozen=True)
class Setting:
    parts: int
    column: str


def setting(node) -> Setting | None:
    """The mart's `meta.build_in_parts`, or None when it is built whole."""
    meta = node_meta(node).get(META_KEY)
    if not meta:
        return None
    return Setting(parts=int(meta.get("parts", 4)), column=str(meta["column"]))


def models_in_parts(manifest) -> list[str]:
    """The models whose YAML asks for a build in parts."""
    return sorted(
        node.name
        for node in manifest.nodes.values()
        if node.resource_type == "model" and setting(node) is not None
    )


def raw_tables(manifest, unique_id: str) -> list:
    """The dbt sources (raw tables) the model reads, directly or through other models."""
    from bfstats.marts import source_ids

    return [manifest.sources[uid] for uid in source_ids(manifest, [unique_id])]


def index_query(source_node, column: str) -> tuple[str, dict]:
    """The part column at the start of each granule of the raw table's primary index; the
    table's database and name are server-side parameters."""
    text = exp.DataType.build("String", dialect="clickhouse")
    table_function = exp.Anonymous(
        this="mergeTreeIndex",
        expressions=[
            exp.Placeholder(this="raw_database", kind=text),
            exp.Placeholder(this="raw_table", kind=text),
        ],
    )
    select = exp.select(exp.column(column, quoted=True)).from_(table_function)
    parameters = {"raw_database": source_node.schema, "raw_table": source_node.identifier}
    return select.sql(dialect="clickhouse"), parameters


def plan(manifest, model: str, unique_id: str, source) -> list[Part]:
    """The parts to build `model` in: more than one, or [] to build it whole."""
    log = logger()
    wanted = setting(manifest.nodes[unique_id])
    if wanted is None or wanted.parts < 2:
        return []
    tables = raw_tables(manifest, unique_id)
    if len(tables) != 1:
        log.info("Building %s whole: it reads %d raw tables, not one", model, len(tables))
        return []
    raw = tables[0]
    try:
        sql, parameters = index_query(raw, wanted.column)
        rows = source.rows(f"index of {raw.identifier}", sql, parameters)
    except Exception as error:  # an optimisation only: the whole build is always right
        log.info(
            "Building %s whole: the primary index of %s.%s cannot be read (%s)",
            model,
            raw.schema,
            raw.identifier,
            first_line(error),
        )
        return []
    parts = ranges([row[0] for row in rows if row[0] is not None], wanted.parts)
    if len(parts) < 2:
        log.info("Building %s whole: its raw table holds too few values to cut", model)
        return []
    return parts


class PartsBuilt:
    """What the load of a mart built in parts waits on: how many parts are in the table, or
    why the rest will never be. The build steps report, the load waits."""

    def __init__(self, model: str):
        self.model = model
        self.parts = 1  # until the first step has cut the mart
        self._built = 0
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def plan(self, parts: int) -> None:
        self.parts = parts

    def built(self, count: int) -> None:
        with self._changed:
            self._built = count
            self._changed.notify_all()

    def all_built(self) -> None:
        self.built(self.parts)

    def failed(self, error: BaseException) -> None:
        with self._changed:
            self._error = error
            self._changed.notify_all()

    @property
    def complete(self) -> bool:
        return self._built >= self.parts

    def wait_beyond(self, seen: int, check_stop) -> int:
        """The number of parts built, once more than `seen` are (or all); `check_stop()` raises
        when the run is stopped. Raises BuildUnfinished when the rest cannot be built."""
        with self._changed:
            while self._built <= seen and self._built < self.parts:
                if self._error is not None:
                    raise BuildUnfinished(
                        f"the build of {self.model} stopped after {self._built} of {self.parts} "
                        f"parts ({self._error}); its table was not loaded"
                    )
                self._changed.wait(timeout=_WAIT_SECONDS)
                check_stop()
            return self._built


class BuildUnfinished(BfstatsError):
    """A mart built in parts did not get all of them."""

    kind = "build failed"
