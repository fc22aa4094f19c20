"""Micro benchmark: one 1000-row batch per transaction into a ServerOnlineCounts-shaped table
(its DDL, primary key included, WAL, synchronous=NORMAL), written with `executemany` (one
statement step per row) against the loader's `RowInsert` (multi-row INSERT statements).

Both modes run in this one process on the same rows, alternately, `--repeat` times each; the
figures are seconds per million rows (median) and their ratio. No ClickHouse, no Prefect: only
what the writer thread of a load does per batch, including the checkpoint row's UPDATE.

    .venv/bin/python benchmarks/bench_row_insert.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bfstats.sqlite_store.row_insert import RowInsert

DDL = (
    'CREATE TABLE "ServerOnlineCounts" ("ServerGuid" TEXT NOT NULL, "HourTimestamp" TEXT NOT '
    'NULL, "Game" TEXT NOT NULL, "AvgPlayers" REAL NOT NULL, "PeakPlayers" INTEGER NOT NULL, '
    '"SampleCount" INTEGER NOT NULL, CONSTRAINT "PK_ServerOnlineCounts" PRIMARY KEY '
    '("ServerGuid", "HourTimestamp"))'
)
COLUMNS = ["ServerGuid", "HourTimestamp", "Game", "AvgPlayers", "PeakPlayers", "SampleCount"]
BATCH = 1000


def _rows(count: int) -> list[tuple]:
    rng = random.Random(1)
    servers = sorted(f"{rng.getrandbits(128):032x}" for _ in range(300))
    per_server = count // len(servers)
    rows = []
    for guid in servers:
        for hour in range(per_server):
            day, hour_of_day = divmod(hour, 24)
            stamp = f"{2020 + day // 336:04d}-{1 + (day // 28) % 12:02d}-{1 + day % 28:02d}"
            rows.append(
                (
                    guid,
                    f"{stamp}T{hour_of_day:02d}:00:00Z",
                    "bf1942",
                    rng.random() * 30,
                    rng.randint(0, 64),
                    rng.randint(1, 60),
                )
            )
    return rows


def _load(folder: Path, rows: list[tuple], mode: str) -> float:
    path = folder / f"{mode}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(DDL)
        conn.execute("CREATE TABLE checkpoint (last_key TEXT, rows INTEGER)")
        conn.execute("INSERT INTO checkpoint VALUES (NULL, 0)")
        one_row = 'INSERT INTO "ServerOnlineCounts" VALUES (?, ?, ?, ?, ?, ?)'
        insert = RowInsert(conn, "ServerOnlineCounts", COLUMNS)
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            conn.execute("BEGIN")
            if mode == "executemany":
                conn.executemany(one_row, batch)
            else:
                insert.write(conn, batch)
            conn.execute(
                "UPDATE checkpoint SET last_key = ?, rows = rows + ?", (batch[-1][0], len(batch))
            )
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = _rows(args.rows)
    seconds: dict[str, list[float]] = {"executemany": [], "RowInsert": []}
    with tempfile.TemporaryDirectory(prefix="bench-row-insert-") as folder:
        for _ in range(args.repeat):
            for mode in seconds:
                seconds[mode].append(_load(Path(folder), rows, mode))
    millions = len(rows) / 1e6
    for mode, times in seconds.items():
        runs = " ".join(f"{t:.2f}" for t in times)
        print(
            f"{mode:12} {statistics.median(times) / millions:6.2f} s per M rows  (runs: {runs} s)"
        )
    ratio = statistics.median(seconds["RowInsert"]) / statistics.median(seconds["executemany"])
    print(f"RowInsert / executemany: {ratio:.2f}x the time, {len(rows):,} rows, batches of {BATCH}")


if __name__ == "__main__":
    main()
