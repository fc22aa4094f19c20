"""A full disk during a load, for real: the SQLite file on a small tmpfs, filled up by a filler
file, with the real CLI on small generated data. The load fails with a message naming the file
and the free space, the published table stays as it was, and once space is freed the rerun
resumes from the checkpoint."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

import pytest
from bfstats.sqlite_store.space import table_bytes
from mounts import remount, tmpfs
from support import bfstats, generated_workdir, query

pytestmark = pytest.mark.slow
AS_OF = datetime.now(UTC).replace(minute=0, second=0).strftime("%Y-%m-%dT%H:%M:%SZ")
TABLE = "ServerOnlineCounts"


def table_rows(db) -> list[tuple]:
    return query(db, f'SELECT * FROM "{TABLE}" ORDER BY 1, 2, 3')


def checkpoint(db) -> tuple:
    return query(
        db,
        "SELECT state, rows_written, rows_expected, resumed_from, rows_read, run_id "
        "FROM _bfstats_checkpoints WHERE sqlite_table = ?",
        (TABLE,),
    )[0]


def test_a_full_disk_fails_by_name_keeps_the_published_table_and_the_rerun_resumes(
    prefect_server, tmp_path
):
    env = generated_workdir(tmp_path / "work", prefect_server, seed=11)
    with tmpfs(tmp_path / "disk", "32m") as disk:
        db = disk / "bfstats.db"
        first = bfstats(
            "backfill", "server-online-counts", "--as-of", AS_OF, "--sqlite", str(db), env=env
        )
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        published = table_rows(db)
        assert len(published) > 10_000
        conn = sqlite3.connect(db)
        size = table_bytes(conn, TABLE)
        conn.close()

        # Leave room for about a quarter of the table (its staging copy, without the key's
        # index, is about half its size): the forced reload fills the disk while it stages the
        # rows, long before it could publish them.
        stats = os.statvfs(disk)
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - size // 4))
        forced = bfstats(
            "backfill",
            *("server-online-counts", "--force", "--as-of", AS_OF, "--batch-size", "500"),
            *("--sqlite", str(db)),
            env=env,
        )
        assert forced.returncode == 1, forced.stdout[-3000:] + forced.stderr[-3000:]
        error = forced.stderr
        # The outcome line names the kind of failure; the message says which file and what to do.
        assert "failed: disk full" in error and f"SQLite file {db}: the disk is full" in error
        assert "free on its filesystem" in error and "loading ServerOnlineCounts" in error
        assert "resumes from its last checkpoint" in error
        assert table_rows(db) == published  # readable, and the same rows
        state, staged, expected, _, _, failed_run = checkpoint(db)
        assert state == "loading" and 0 < staged < expected, (state, staged, expected)
        # Recording the failure is itself a write, which a disk that is still full may refuse:
        # the run row then stays `running`, and status reports it interrupted, never completed.
        status, reason = query(
            db, "SELECT status, error FROM _bfstats_runs WHERE run_id = ?", (failed_run,)
        )[0]
        assert (status, "disk is full" in (reason or "")) in {("failed", True), ("running", False)}

        # Free space: the filler goes, and the filesystem grows - publishing into a table that
        # has rows copies them inside one transaction, whose pages pass through the WAL: the
        # file then needs room for the table about three times over.
        filler.unlink()
        remount(disk, "size=256m")
        resumed = bfstats("backfill", "server-online-counts", "--sqlite", str(db), env=env)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        state, written, expected, resumed_from, rows_read, run_id = checkpoint(db)
        assert (state, run_id) == ("published", failed_run)
        assert resumed_from == staged and rows_read == expected - staged
        assert written == expected == len(published)
        assert table_rows(db) == published
