"""The benchmark's baseline loader: one streaming ClickHouse query into sqlite3 `executemany`,
1000-row transactions, into an EF-shaped ServerOnlineCounts table (primary key and both
indexes). No dbt, no checkpoints, no staging table, no resume.

    python benchmarks/baseline_loader.py --chdb DIR --sqlite FILE --as-of 'YYYY-MM-DD HH:MM:SS'
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

import chdb

EF_DDL = """
CREATE TABLE "ServerOnlineCounts" (
    "ServerGuid" TEXT NOT NULL,
    "HourTimestamp" TEXT NOT NULL,
    "Game" TEXT NOT NULL,
    "AvgPlayers" REAL NOT NULL,
    "PeakPlayers" INTEGER NOT NULL,
    "SampleCount" INTEGER NOT NULL,
    CONSTRAINT "PK_ServerOnlineCounts" PRIMARY KEY ("ServerGuid", "HourTimestamp")
);
CREATE INDEX "IX_ServerOnlineCounts_Game_HourTimestamp"
    ON "ServerOnlineCounts" ("Game", "HourTimestamp");
CREATE INDEX "IX_ServerOnlineCounts_HourTimestamp" ON "ServerOnlineCounts" ("HourTimestamp");
"""
INSERT = 'INSERT INTO "ServerOnlineCounts" VALUES (?, ?, ?, ?, ?, ?)'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chdb", required=True)
    parser.add_argument("--sqlite", required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--source-database", default="default")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--without-secondary-indexes",
        action="store_true",
        help="create the table with its primary key only (the loader's best case)",
    )
    args = parser.parse_args()

    Path(args.sqlite).unlink(missing_ok=True)
    target = sqlite3.connect(args.sqlite, isolation_level=None)
    target.execute("PRAGMA journal_mode = WAL")
    target.execute("PRAGMA synchronous = NORMAL")
    ddl = EF_DDL.split("CREATE INDEX")[0] if args.without_secondary_indexes else EF_DDL
    target.executescript(ddl)

    sql = (Path(__file__).parent / "baseline_server_online_counts.sql").read_text()
    started = time.perf_counter()
    engine = chdb.connect(args.chdb)
    stream = engine.send_query(
        sql, "Arrow", params={"as_of": args.as_of, "source_database": args.source_database}
    )
    pending: list[tuple] = []
    rows = 0

    def write(batch: list[tuple]) -> None:
        target.execute("BEGIN")
        target.executemany(INSERT, batch)
        target.execute("COMMIT")

    for record_batch in stream.record_batch(rows_per_batch=args.batch_size):
        columns = [column.to_pylist() for column in record_batch.columns]
        pending.extend(zip(*columns, strict=True))
        while len(pending) >= args.batch_size:
            write(pending[: args.batch_size])
            del pending[: args.batch_size]
            rows += args.batch_size
    if pending:
        write(pending)
        rows += len(pending)
    stream.close()
    engine.close()
    print(f"baseline rows={rows} seconds={time.perf_counter() - started:.2f}")


if __name__ == "__main__":
    main()
