"""Crash safety: a backfill killed with SIGKILL at several points (during dbt, in the middle of
two tables' loads) and resumed each time ends with tables identical to an uninterrupted run -
no duplicate and no missing row - and a resumed load re-reads only what was not committed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support import (
    TABLES,
    Backfill,
    bfstats,
    checkpoint,
    generated_workdir,
    loading_past,
    query,
    table_difference,
    wait_for,
)

pytestmark = pytest.mark.slow
# The generated data ends now; an instant inside it, fixed for every run of this module.
AS_OF = datetime.now(UTC).replace(minute=0, second=0).strftime("%Y-%m-%dT%H:%M:%SZ")
BATCH = "10"


@pytest.fixture(scope="module")
def generated(prefect_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("crash")
    return work, generated_workdir(work, prefect_server, seed=7)


@pytest.fixture(scope="module")
def reference(generated):
    """The uninterrupted run, with OpenTelemetry spans printed to stdout."""
    work, env = generated
    db = work / "reference.db"
    result = bfstats(
        "backfill",
        "all",
        "--as-of",
        AS_OF,
        "--batch-size",
        "1000",
        "--sqlite",
        str(db),
        env={**env, "OTEL_TRACES_EXPORTER": "console"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for table in TABLES:
        assert query(db, f'SELECT count(*) FROM "{table}"')[0][0] > 0, f"{table} is empty"
    return db, result.stdout


def test_spans_carry_the_spec_attributes(reference):
    _, stdout = reference
    assert '"name": "bfstats.batch"' in stdout
    assert '"name": "bfstats.service"' in stdout
    for attribute in ("query.name", "result.table", "result.row_count", "result.duration_ms"):
        assert f'"{attribute}"' in stdout


def test_killed_three_times_then_resumed_equals_an_uninterrupted_run(generated, reference):
    work, env = generated
    reference_db, _ = reference
    db = work / "crashed.db"
    first = ["all", "--as-of", AS_OF, "--batch-size", BATCH, "--sqlite", str(db)]
    # Later runs give no --as-of: they must pick up the interrupted run's own.
    resume = ["all", "--batch-size", BATCH, "--sqlite", str(db)]

    # 1. Killed while dbt builds the models: nothing loaded yet.
    run = Backfill(first, env)
    wait_for(
        lambda: run.saw("Building server_online_counts in ClickHouse"), 300, what="dbt to start"
    )
    run.kill()
    assert query(db, "SELECT count(*) FROM _bfstats_checkpoints") == [(0,)]
    assert {row[0] for row in query(db, "SELECT status FROM _bfstats_runs")} == {"running"}

    # 2. Killed in the middle of ServerOnlineCounts.
    run = Backfill(resume, env)
    wait_for(loading_past(db, "ServerOnlineCounts", 2000), 300, what="ServerOnlineCounts load")
    run.kill()
    state, written, expected, _, _ = checkpoint(db, "ServerOnlineCounts")
    assert state == "loading" and 2000 <= written < expected

    # 3. Resumed, then killed in the middle of PlayerMapStats, a table of a later service.
    run = Backfill(resume, env)
    wait_for(loading_past(db, "PlayerMapStats", 200), 300, what="PlayerMapStats load")
    run.kill()
    state, map_written, map_expected, _, _ = checkpoint(db, "PlayerMapStats")
    assert state == "loading" and 200 <= map_written < map_expected
    state, _, expected, resumed_from, rows_read = checkpoint(db, "ServerOnlineCounts")
    assert state == "published"
    assert resumed_from >= written  # continued after the checkpoint of the killed run ...
    assert rows_read == expected - resumed_from < expected  # ... re-reading only the rest

    # 4. The last resume runs to the end.
    final = bfstats(*["backfill", *resume], env=env)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    state, _, expected, resumed_from, rows_read = checkpoint(db, "PlayerMapStats")
    assert state == "published" and resumed_from >= map_written
    assert rows_read == expected - resumed_from < expected

    runs = query(db, "SELECT service, status, as_of FROM _bfstats_runs")
    assert {(status, as_of) for _, status, as_of in runs} == {("completed", AS_OF)}
    for table in TABLES:
        count, reference_count, only_here, only_there = table_difference(db, reference_db, table)
        assert (count, only_here, only_there) == (reference_count, 0, 0), table


def test_killed_while_a_mart_builds_in_parts_resumes_its_load_and_equals_an_uninterrupted_run(
    generated, reference
):
    """ServerOnlineCounts builds in parts (build_parts) and its rows load as each part is in.
    Killed with the first part loading and the others not all built: the resume builds the mart
    again, keeps the rows already loaded (same code, same raw data, same as_of) and ends with the
    uninterrupted run's tables."""
    work, env = generated
    reference_db, _ = reference
    db = work / "parts.db"
    args = ["server-online-counts", "--as-of", AS_OF, "--batch-size", BATCH, "--sqlite", str(db)]
    run = Backfill(args, env)
    wait_for(loading_past(db, "ServerOnlineCounts", 300), 300, what="ServerOnlineCounts load")
    run.kill()
    assert "Built part 1 of 4 of server_online_counts" in run.output()
    assert "Built part 4 of 4" not in run.output(), "the kill came after the last part"
    # Expected: estimated from the parts built so far, above the rows loaded while parts remain.
    state, written, estimated, _, _ = checkpoint(db, "ServerOnlineCounts")
    assert state == "loading" and 300 <= written < estimated
    # The first part's record tells the resume what the loaded rows came from.
    (fingerprint,) = query(db, "SELECT fingerprint FROM _bfstats_builds")[0]
    assert '"partial"' in fingerprint

    resume = bfstats("backfill", *args[:1], "--batch-size", BATCH, "--sqlite", str(db), env=env)
    assert resume.returncode == 0, resume.stdout[-3000:] + resume.stderr[-3000:]
    output = resume.stdout + resume.stderr
    assert "Rebuilding server_online_counts: the interrupted run built only part of it" in output
    assert "the rows loaded from that build stay" in output
    state, _, expected, resumed_from, rows_read = checkpoint(db, "ServerOnlineCounts")
    assert state == "published" and resumed_from >= written
    assert rows_read == expected - resumed_from
    count, reference_count, only_here, only_there = table_difference(
        db, reference_db, "ServerOnlineCounts"
    )
    assert (count, only_here, only_there) == (reference_count, 0, 0)
