"""The backfill's catalog: services, their target tables and the tables' shapes.

Everything here is read from the dbt project itself: each mart declares in its YAML `meta`
which service loads it (`service`), the SQLite table (`sqlite_table`), the primary key
(`sqlite_primary_key`), the secondary indexes (`sqlite_indexes`) and, where it has one, the
column that holds the run's `as_of` (`sqlite_as_of_column`), and its contract gives
the ClickHouse type of every column. Python holds no second copy of those facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bfstats.errors import BfstatsError

ALL = "all"


class CatalogError(BfstatsError, ValueError):
    """A service name or a mart's meta is wrong; the message says which and what to do."""

    kind = "bad project or service name"


def pascal_case(snake: str) -> str:
    """`avg_players` -> `AvgPlayers`, `q25_players` -> `Q25Players` (EF Core column names)."""
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_") if part)


@dataclass(frozen=True)
class Column:
    name: str  # the model's column (snake_case)
    clickhouse_type: str  # from the enforced model contract

    @property
    def sqlite_name(self) -> str:
        return pascal_case(self.name)


@dataclass(frozen=True)
class TableSpec:
    model: str  # dbt model name, e.g. server_online_counts
    unique_id: str  # dbt node id, e.g. model.bfstats.server_online_counts
    database: str  # ClickHouse database the model is materialized in
    service: str
    sqlite_table: str  # e.g. ServerOnlineCounts
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]  # model column names, in key order
    indexes: tuple[tuple[str, ...], ...]  # model column names of each secondary index
    # The model column that holds the run's as_of on every row (meta.sqlite_as_of_column).
    as_of_column: str | None = None

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise CatalogError(f"model {self.model} has no column {name!r}")

    @property
    def primary_key_name(self) -> str:
        return f"PK_{self.sqlite_table}"

    def index_name(self, index: tuple[str, ...]) -> str:
        """EF Core's convention: IX_<Table>_<Col1>_<Col2>."""
        return "_".join(["IX", self.sqlite_table, *(pascal_case(c) for c in index)])


@dataclass(frozen=True)
class Service:
    name: str
    tables: tuple[TableSpec, ...]

    @property
    def models(self) -> list[str]:
        return [table.model for table in self.tables]


class Catalog:
    def __init__(self, services: list[Service], manifest=None):
        self._services = {service.name: service for service in services}
        self.manifest = manifest  # the parsed dbt Manifest it was read from

    @property
    def names(self) -> list[str]:
        """Service names in the dbt DAG's order."""
        return list(self._services)

    def services(self) -> list[Service]:
        return list(self._services.values())

    def service(self, name: str) -> Service:
        try:
            return self._services[name]
        except KeyError:
            raise CatalogError(
                f"unknown service {name!r}; choose from: {ALL}, {', '.join(self._services)}"
            ) from None

    def select(self, names: list[str] | tuple[str, ...]) -> list[Service]:
        """The services asked for, `all` meaning every one, in DAG order, without repeats."""
        wanted = set(_selected(names, self.names))
        return [service for name, service in self._services.items() if name in wanted]

    def table(self, model_or_table: str) -> TableSpec:
        for service in self._services.values():
            for table in service.tables:
                if model_or_table in (table.model, table.sqlite_table):
                    return table
        raise CatalogError(f"no mart or SQLite table named {model_or_table!r}")


def _selected(names: list[str] | tuple[str, ...], known: list[str]) -> list[str]:
    choices = f"choose from: {ALL}, {', '.join(known)}"
    if not names:
        raise CatalogError(f"no service given; {choices}")
    wanted: list[str] = []
    for name in names:
        if name == ALL:
            wanted += known
        elif name in known:
            wanted.append(name)
        else:
            raise CatalogError(f"unknown service {name!r}; {choices}")
    return list(dict.fromkeys(wanted))


def check_service_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """The services `names` asks for, checked without parsing the dbt project."""
    return _selected(names, service_names())


def _topological_order(nodes: dict) -> list[str]:
    order, seen = [], set()

    def visit(unique_id: str) -> None:
        if unique_id in seen or unique_id not in nodes:
            return
        seen.add(unique_id)
        for parent in sorted(nodes[unique_id].depends_on.nodes):
            visit(parent)
        order.append(unique_id)

    for unique_id in sorted(nodes):
        visit(unique_id)
    return order


def node_meta(node) -> dict:
    """A model's meta, from its YAML's `meta` and `config.meta` both."""
    return {**(node.meta or {}), **(node.config.meta or {})}


def _table_spec(node) -> TableSpec:
    meta = node_meta(node)
    columns = tuple(
        Column(name, column.data_type or "")
        for name, column in node.columns.items()
        if column.data_type
    )
    if len(columns) != len(node.columns) or not columns:
        raise CatalogError(
            f"model {node.name} loads SQLite table {meta.get('sqlite_table')} but not every "
            "column has a data_type; declare the contract's types in its YAML"
        )
    spec = TableSpec(
        model=node.name,
        unique_id=node.unique_id,
        database=node.schema,
        service=meta["service"],
        sqlite_table=meta["sqlite_table"],
        columns=columns,
        primary_key=tuple(meta.get("sqlite_primary_key") or ()),
        indexes=tuple(tuple(index) for index in meta.get("sqlite_indexes") or ()),
        as_of_column=meta.get("sqlite_as_of_column"),
    )
    if not spec.primary_key:
        raise CatalogError(f"model {node.name} has no sqlite_primary_key in its meta")
    as_of_column = (spec.as_of_column,) if spec.as_of_column else ()
    for name in (*spec.primary_key, *(c for index in spec.indexes for c in index), *as_of_column):
        spec.column(name)
    return spec


def from_manifest(manifest) -> Catalog:
    """Build the catalog from a parsed dbt Manifest (marts with `meta.sqlite_table`)."""
    models = {
        unique_id: node
        for unique_id, node in manifest.nodes.items()
        if node.resource_type == "model"
    }
    services: dict[str, list[TableSpec]] = {}
    for unique_id in _topological_order(models):
        node = models[unique_id]
        if node_meta(node).get("sqlite_table"):
            spec = _table_spec(node)
            services.setdefault(spec.service, []).append(spec)
    return Catalog(
        [Service(name, tuple(tables)) for name, tables in services.items()], manifest=manifest
    )


def load() -> Catalog:
    """The catalog of the dbt project as this process parsed it (parsed once per process and
    configuration: the CLI, the flow and `dbt build` share one parse)."""
    from bfstats import config, dbt_invoke

    return from_manifest(dbt_invoke.parse_manifest(config.dbt_vars()))


_REF = re.compile(r"""\{\{\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*\}\}""")


def service_tables(project_dir: Path | None = None) -> dict[str, list[str]]:
    """Service -> its SQLite tables, in the DAG's order, read straight from the models' YAML
    `meta` and the `ref()`s of their SQL: a few milliseconds, no dbt parse. It answers what a
    person types often (`bfstats status`, a mistyped service name); the flow uses `load()`."""
    from bfstats import config

    models_dir = (project_dir or config.PROJECT_DIR) / "models"
    table_of: dict[str, tuple[str, str]] = {}  # model -> (service, SQLite table)
    for path in sorted(models_dir.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            meta = {**(model.get("meta") or {}), **((model.get("config") or {}).get("meta") or {})}
            if meta.get("sqlite_table") and meta.get("service"):
                table_of[model["name"]] = (meta["service"], meta["sqlite_table"])
    parents = {path.stem: set(_REF.findall(path.read_text())) for path in models_dir.rglob("*.sql")}
    order: list[str] = []
    seen: set[str] = set()

    def visit(model: str) -> None:
        if model in seen:
            return
        seen.add(model)
        for parent in sorted(parents.get(model, ())):
            visit(parent)
        order.append(model)

    for model in sorted(parents):
        visit(model)
    services: dict[str, list[str]] = {}
    for model in order:
        if model in table_of:
            service, table = table_of[model]
            services.setdefault(service, []).append(table)
    return services


def service_names(project_dir: Path | None = None) -> list[str]:
    return list(service_tables(project_dir))
