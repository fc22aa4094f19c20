"""SQLite DDL built from the model contracts: its text, its validation and its shape in SQLite.

The golden tests compare the generated DDL with the API's own file (tests/fixtures/api-schema.sql,
read by tests/api_schema.py). The 8 marts' contract comes from tests/contract.py (HAND_SPECS
here); test_sqlite_drift.py reuses both.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing

import api_schema
import pytest
import sqlglot
from bfstats.catalog import Catalog, Column, Service, TableSpec
from bfstats.sqlite_schema import SchemaError, UnsupportedTypeError, table_ddl
from bfstats.sqlite_schema.ddl import validate
from contract import CONTRACT

# The contract of the brief, one TableSpec per mart (tests/contract.py).
HAND_SPECS = [
    TableSpec(
        model=model,
        unique_id=f"model.bfstats.{model}",
        database="bfstats",
        service=mart["service"],
        sqlite_table=mart["sqlite_table"],
        columns=tuple(Column(name, clickhouse_type) for name, clickhouse_type in mart["columns"]),
        primary_key=tuple(mart["key"]),
        indexes=tuple(tuple(index) for index in mart["indexes"]),
    )
    for model, mart in CONTRACT.items()
]

# The eight tables the backfill writes; the API's file has four more it must leave alone.
MART_TABLES = sorted(mart["sqlite_table"] for mart in CONTRACT.values())
OTHER_API_TABLES = sorted(set(api_schema.table_names()) - set(MART_TABLES))


def hand_spec(name: str) -> TableSpec:
    return next(spec for spec in HAND_SPECS if name in (spec.model, spec.sqlite_table))


def hand_catalog() -> Catalog:
    services: dict[str, list[TableSpec]] = {}
    for spec in HAND_SPECS:
        services.setdefault(spec.service, []).append(spec)
    return Catalog([Service(name, tuple(tables)) for name, tables in services.items()])


def specs_of(source: str, real_catalog) -> list[TableSpec]:
    if source == "hand specs":
        return HAND_SPECS
    return [spec for service in real_catalog.services() for spec in service.tables]


def generated(spec: TableSpec) -> api_schema.Table:
    """The table `spec`'s DDL makes in a fresh SQLite, read like the fixture's."""
    with closing(sqlite3.connect(":memory:")) as conn:
        for statement in table_ddl(spec).statements:
            conn.execute(statement)
        return api_schema.read_table(conn, spec.sqlite_table)


def normalized(statement: str) -> str:
    return sqlglot.parse_one(statement, read="sqlite").sql(dialect="sqlite")


def shape(conn: sqlite3.Connection, table: str):
    """What SQLite reports for `table`: columns (name, type, notnull, pk) and index columns."""
    columns = conn.execute(
        'select "name", "type", "notnull", "pk" from pragma_table_info(?) order by "cid"',
        (table,),
    ).fetchall()
    indexes = {
        name: [
            row[0]
            for row in conn.execute(
                'select "name" from pragma_index_info(?) order by "seqno"', (name,)
            )
        ]
        for (name,) in conn.execute(
            'select "name" from pragma_index_list(?) where "origin" = \'c\'', (table,)
        )
    }
    return columns, indexes


def test_the_fixture_is_the_apis_file():
    if not api_schema.SHARED.is_file():
        pytest.skip(
            f"the API's file {api_schema.SHARED} is not here (a clean clone); "
            "set BFSTATS_API_SCHEMA to compare the vendored copy with it"
        )
    assert api_schema.FIXTURE.read_bytes() == api_schema.SHARED.read_bytes(), (
        f"{api_schema.FIXTURE} differs from {api_schema.SHARED}: copy the API's file over it"
    )


def test_the_fixture_holds_the_eight_tables_and_four_others():
    assert set(MART_TABLES) <= set(api_schema.table_names())
    assert OTHER_API_TABLES == [
        "HourlyActivityPatterns",
        "MapGlobalAverages",
        "PlayerDailyStats",
        "ServerLeaderboardEntries",
    ]


@pytest.mark.parametrize("source", ["real catalog", "hand specs"])
@pytest.mark.parametrize("table", MART_TABLES)
def test_generated_table_equals_the_apis_table(real_catalog, source, table):
    """Columns (name, declared type, NOT NULL, key position, default), the key's constraint
    name and the indexes (name, columns, unique) of the API's file, nullability included."""
    spec = next(s for s in specs_of(source, real_catalog) if s.sqlite_table == table)
    assert generated(spec) == api_schema.table(table)


@pytest.mark.parametrize("table", MART_TABLES)
def test_generated_statements_read_like_ef_cores(table):
    """Beyond the meaning: the CREATE statements are EF Core's, up to whitespace (an inline
    one-column key, an explicit NULL on nullable columns)."""
    ours = [normalized(statement) for statement in table_ddl(hand_spec(table)).statements]
    theirs = [
        normalized(statement)
        for statement in api_schema.statements_by_table()[table].split(";")
        if statement.strip()
    ]
    assert ours == theirs


def test_hand_specs_cover_the_eight_tables():
    assert sorted(spec.sqlite_table for spec in HAND_SPECS) == MART_TABLES


def test_server_online_counts_ddl_text():
    ddl = table_ddl(hand_spec("ServerOnlineCounts"))
    assert ddl.create_table == (
        'CREATE TABLE "ServerOnlineCounts" ("ServerGuid" TEXT NOT NULL, '
        '"HourTimestamp" TEXT NOT NULL, "Game" TEXT NOT NULL, "AvgPlayers" REAL NOT NULL, '
        '"PeakPlayers" INTEGER NOT NULL, "SampleCount" INTEGER NOT NULL, '
        'CONSTRAINT "PK_ServerOnlineCounts" PRIMARY KEY ("ServerGuid", "HourTimestamp"))'
    )
    assert ddl.create_indexes == [
        'CREATE INDEX "IX_ServerOnlineCounts_Game_HourTimestamp" '
        'ON "ServerOnlineCounts"("Game", "HourTimestamp")',
        'CREATE INDEX "IX_ServerOnlineCounts_HourTimestamp" '
        'ON "ServerOnlineCounts"("HourTimestamp")',
    ]
    assert ddl.statements == [ddl.create_table, *ddl.create_indexes]


@pytest.mark.parametrize("table", MART_TABLES)
def test_statements_parse_back_unchanged_with_sqlglot(table):
    for statement in table_ddl(hand_spec(table)).statements:
        assert sqlglot.parse_one(statement, read="sqlite").sql(dialect="sqlite") == statement


def test_columns_describe_the_loader_needs():
    ddl = table_ddl(hand_spec("player_server_stats"))
    by_name = {column.name: column for column in ddl.columns}
    assert ddl.column_names[:2] == ["PlayerName", "ServerGuid"]
    assert ddl.primary_key == ("PlayerName", "ServerGuid")
    assert [by_name[name].pk_position for name in ("PlayerName", "ServerGuid")] == [1, 2]
    assert by_name["TotalKills"].pk_position == 0
    highest = by_name["HighestScoreTime"]
    assert (highest.declared_type, highest.not_null, highest.type.is_instant) == (
        "TEXT",
        False,
        True,
    )
    assert highest.model_column == "highest_score_time"
    assert by_name["TotalPlayTimeMinutes"].declared_type == "REAL"
    assert [c.name for c in ddl.columns if not c.not_null] == [
        "HighestScoreRoundId",
        "HighestScoreMapName",
        "HighestScoreTime",
    ]
    period = {c.name: c for c in table_ddl(hand_spec("player_best_scores")).columns}["Period"]
    assert (period.declared_type, period.type.is_enum, period.type.as_string) == (
        "TEXT",
        True,
        True,
    )


def test_staging_copy_has_same_columns_and_key_and_no_indexes(tmp_path):
    spec = hand_spec("ServerOnlineCounts")
    staging = table_ddl(spec, table_name="ServerOnlineCounts__staging", with_indexes=False)
    target = table_ddl(spec)
    assert staging.create_indexes == [] and staging.indexes == []
    assert staging.table == "ServerOnlineCounts__staging"
    assert staging.columns == target.columns
    assert 'CONSTRAINT "PK_ServerOnlineCounts"' in staging.create_table
    with closing(sqlite3.connect(tmp_path / "s.db")) as conn:
        for statement in [*target.statements, *staging.statements]:
            conn.execute(statement)
        staged_columns, staged_indexes = shape(conn, "ServerOnlineCounts__staging")
        target_columns, _ = shape(conn, "ServerOnlineCounts")
    assert staged_columns == target_columns
    assert staged_indexes == {}


def test_copy_with_indexes_names_them_after_the_copy():
    ddl = table_ddl(hand_spec("PlayerMapStats"), table_name="PlayerMapStats_new")
    assert [index.name for index in ddl.indexes] == ["IX_PlayerMapStats_new_MapName"]
    assert ddl.create_indexes == [
        'CREATE INDEX "IX_PlayerMapStats_new_MapName" ON "PlayerMapStats_new"("MapName")'
    ]


def test_identifiers_are_quoted():
    ddl = table_ddl(hand_spec("PlayerMilestones"), table_name='odd "name"; drop')
    assert ddl.create_table.startswith('CREATE TABLE "odd ""name""; drop" (')


def test_unsupported_column_type_names_model_and_column():
    spec = hand_spec("PlayerMilestones")
    spec = dataclasses.replace(spec, columns=(*spec.columns, Column("ratio", "Decimal(9, 3)")))
    with pytest.raises(UnsupportedTypeError, match=r"model player_milestones, column ratio: .*"):
        table_ddl(spec)


def test_nullable_key_column_is_refused():
    spec = hand_spec("PlayerMilestones")
    columns = tuple(
        Column(c.name, "Nullable(UInt32)") if c.name == "milestone" else c for c in spec.columns
    )
    with pytest.raises(SchemaError, match="column milestone: primary key columns cannot be"):
        table_ddl(dataclasses.replace(spec, columns=columns))


def test_columns_that_collide_in_sqlite_are_refused():
    spec = hand_spec("PlayerMilestones")
    spec = dataclasses.replace(spec, columns=(*spec.columns, Column("playername", "String")))
    with pytest.raises(SchemaError, match="player_name and playername both become SQLite column"):
        table_ddl(spec)


def test_key_naming_an_unknown_column_is_refused():
    spec = dataclasses.replace(hand_spec("PlayerMapStats"), indexes=(("map",),))
    with pytest.raises(SchemaError, match="has no column 'map'.*sqlite_indexes"):
        table_ddl(spec)


def test_table_name_sqlite_rejects_fails_validation():
    with pytest.raises(SchemaError, match="failed validation: SQLite rejects"):
        table_ddl(hand_spec("PlayerMilestones"), table_name="sqlite_staging")


def test_validation_catches_ddl_that_does_not_do_what_it_says():
    ddl = table_ddl(hand_spec("ServerOnlineCounts"))
    wrong_type = dataclasses.replace(
        ddl, create_table=ddl.create_table.replace('"AvgPlayers" REAL', '"AvgPlayers" TEXT')
    )
    with pytest.raises(SchemaError, match="SQLite made columns"):
        validate(wrong_type)
    missing_index = dataclasses.replace(ddl, create_indexes=ddl.create_indexes[:1])
    with pytest.raises(SchemaError, match="SQLite made indexes"):
        validate(missing_index)
    unparsable = dataclasses.replace(ddl, create_table=ddl.create_table + " (((")
    with pytest.raises(SchemaError, match="does not parse as SQLite|reads back as"):
        validate(unparsable)
