"""The order a run builds and loads its tables in (bfstats.load_order): a mart built in parts
first, then the largest, by the rows of their mart's last build in the real engine, then the
never built; the catalog's order (a mart built in parts first) when the sizes cannot be read."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bfstats import load_order
from bfstats.clickhouse_source import ClickHouseError


def _table(model: str) -> SimpleNamespace:
    return SimpleNamespace(
        model=model, unique_id=f"model.bfstats.{model}", sqlite_table=model.title()
    )


class _Manifest:
    """What the order reads of dbt's manifest: each mart's relation and whether it builds in
    parts."""

    def __init__(self, database: str, models: list[str], in_parts: tuple[str, ...] = ()):
        self.nodes = {
            f"model.bfstats.{model}": SimpleNamespace(
                name=model,
                resource_type="model",
                schema=database,
                alias=model,
                meta={},
                config=SimpleNamespace(
                    meta={"build_in_parts": {"parts": 4, "column": "n"}}
                    if model in in_parts
                    else {}
                ),
            )
            for model in models
        }


@pytest.fixture
def sized_marts(clickhouse):
    """Marts of 10, 300, 40 and 5 rows in the real engine, and a target to reach them."""
    from bfstats.config import Target, chdb_path

    clickhouse.query("CREATE DATABASE IF NOT EXISTS order_tests")
    for name, rows in [("small", 10), ("big", 300), ("medium", 40), ("parted", 5)]:
        clickhouse.query(f"DROP TABLE IF EXISTS order_tests.{name}")
        clickhouse.query(
            f"CREATE TABLE order_tests.{name} (n UInt32) ENGINE = MergeTree ORDER BY n"
        )
        clickhouse.query(f"INSERT INTO order_tests.{name} SELECT number FROM numbers({rows})")
    return Target("test", "chdb", "order_tests", path=str(chdb_path()))


def test_a_mart_in_parts_then_the_largest_come_first_and_the_never_built_last_in_their_order(
    sized_marts, bfstats_log
):
    models = ["never_a", "small", "big", "never_b", "parted", "medium"]
    tables = [_table(model) for model in models]
    manifest = _Manifest("order_tests", models, in_parts=("parted",))
    ordered = load_order.arrange(manifest, tables, sized_marts)
    assert [spec.model for spec in ordered] == [
        "parted",
        "big",
        "medium",
        "small",
        "never_a",
        "never_b",
    ]
    assert (
        "Order of the builds and loads: Parted (built in parts), "
        "Big (300 rows at its last build), Medium (40 rows at its last build), "
        "Small (10 rows at its last build), Never_A (never built), Never_B (never built)"
    ) in bfstats_log.text


def test_sizes_that_cannot_be_read_keep_the_catalogs_order(sized_marts, monkeypatch, bfstats_log):
    def unreachable(target):
        raise ClickHouseError("ClickHouse server at 127.0.0.1:1 is unreachable")

    monkeypatch.setattr(load_order, "open_source", unreachable)
    models = ["small", "big", "parted", "medium"]
    tables = [_table(model) for model in models]
    manifest = _Manifest("order_tests", models, in_parts=("parted",))
    ordered = load_order.arrange(manifest, tables, sized_marts)
    assert [spec.model for spec in ordered] == ["parted", "small", "big", "medium"]
    assert (
        "The sizes of the marts cannot be read (ClickHouse server at 127.0.0.1:1 is "
        "unreachable): the builds and loads go in the catalog's order, a mart built in parts first"
    ) in bfstats_log.text
