"""One root error type, with the CLI's exit codes in one place (README, Usage: exit codes)."""

from __future__ import annotations

import pickle
import signal

import pytest
from bfstats import cli
from bfstats.catalog import CatalogError
from bfstats.clickhouse_source import ClickHouseError
from bfstats.dbt_invoke import DbtError
from bfstats.errors import BfstatsError, RunInProgress, RunInterrupted, UsageError
from bfstats.reconcile import ReconciliationError
from bfstats.sqlite_schema.drift import SchemaDriftError
from bfstats.sqlite_schema.errors import SchemaError
from bfstats.sqlite_store import DiskFullError, MetadataTooNewError, SqliteTargetError


@pytest.mark.parametrize(
    ("error_type", "old_base"),
    [
        (CatalogError, ValueError),
        (SchemaError, ValueError),
        (DbtError, RuntimeError),
        (SqliteTargetError, RuntimeError),
        (DiskFullError, RuntimeError),
        (MetadataTooNewError, RuntimeError),
        (ReconciliationError, RuntimeError),
        (ClickHouseError, RuntimeError),
    ],
)
def test_every_error_of_the_project_is_a_bfstats_error_and_keeps_its_old_base(error_type, old_base):
    error = error_type("message")
    assert isinstance(error, BfstatsError) and isinstance(error, old_base)
    assert error.exit_code == 1


def test_schema_drift_is_a_schema_error():
    assert issubclass(SchemaDriftError, SchemaError) and issubclass(SchemaDriftError, BfstatsError)


def test_the_exit_codes():
    assert BfstatsError("x").exit_code == 1
    assert UsageError("x").exit_code == 2
    assert RunInProgress("x").exit_code == 75
    assert RunInterrupted(signal.SIGINT).exit_code == 130
    assert RunInterrupted(signal.SIGTERM).exit_code == 143
    assert str(RunInterrupted(signal.SIGTERM)) == "interrupted by SIGTERM"


def test_an_interruption_survives_pickling():
    # Prefect pickles a task's exception; the exit code must come back with it.
    error = pickle.loads(pickle.dumps(RunInterrupted(signal.SIGINT, "stopped by Ctrl-C")))
    assert (error.exit_code, error.signal_number, str(error)) == (130, 2, "stopped by Ctrl-C")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad input"), 2),
        (RunInProgress("SQLite file x is being backfilled by pid 1"), 75),
        (RunInterrupted(signal.SIGTERM), 143),
        (ReconciliationError("SQLite table T has 3 rows, the model 4"), 1),
    ],
    ids=["usage", "in-progress", "sigterm", "reconciliation"],
)
def test_the_cli_prints_one_line_and_exits_with_the_errors_code(monkeypatch, capsys, error, code):
    def fails(args):
        raise error

    monkeypatch.setitem(cli.COMMANDS, "status", fails)
    assert cli.main(["status"]) == code
    assert capsys.readouterr().err == f"bfstats: error: {error}\n"


def test_an_unexpected_error_is_not_swallowed(monkeypatch):
    def fails(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "status", fails)
    with pytest.raises(ZeroDivisionError):
        cli.main(["status"])


@pytest.mark.slow  # parses the dbt project (the catalog) in this process
def test_a_file_that_is_not_a_database_is_named_by_status(tmp_path, capsys):
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("these are notes, not a database\n" * 10)
    assert cli.main(["status", "--sqlite", str(not_a_database)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"bfstats: error: cannot read SQLite database {not_a_database}")
    assert error.count("\n") == 1
