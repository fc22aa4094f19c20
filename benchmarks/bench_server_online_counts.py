"""Benchmark: `bfstats backfill server-online-counts` end to end against a hand-written baseline.

Both run on the same generated data in the same invocation, each in its own process (so each
opens the embedded engine itself and its peak RSS is its own):

- project:  `bfstats backfill server-online-counts --force` (dbt build of the model, checkpointed
  1000-row batches into a staging table, atomic publish, reconciliation);
- baseline: `baseline_loader.py` (one streaming query into `executemany`, 1000-row transactions).

Prints rows, seconds, rows/s, the project/baseline speed ratio and peak RSS. Targets at scale 1:
ratio >= 0.9 and project peak RSS < 1.5 GB. Figures, not assertions.

    .venv/bin/python benchmarks/bench_server_online_counts.py --scale 1 [--reuse-data]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def run_measured(label: str, command: list[str], env: dict) -> tuple[float, float]:
    """Run a child to completion; return (wall seconds, peak RSS in MB) of that child alone."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        sys.stdout.write(output.decode(errors="replace")[-5000:])
        raise SystemExit(f"{label} failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss / 1024


def table_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute('SELECT count(*) FROM "ServerOnlineCounts"').fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cadence-minutes", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/bfstats-bench")
    parser.add_argument(
        "--reuse-data", action="store_true", help="keep the raw data of an earlier run in --workdir"
    )
    args = parser.parse_args()

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    chdb_dir = workdir / "clickhouse"
    env = {
        **os.environ,
        "BFSTATS_CHDB_PATH": str(chdb_dir),
        "BFSTATS_TARGET": "local",
        "DBT_TARGET_PATH": str(workdir / "target"),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if not (args.reuse_data and chdb_dir.exists()):
        seconds, rss = run_measured(
            "generate",
            [
                str(BIN / "bfstats"),
                "generate",
                "--scale",
                str(args.scale),
                "--seed",
                str(args.seed),
                "--cadence-minutes",
                str(args.cadence_minutes),
                "--replace",
            ],
            env,
        )
        print(f"generate scale {args.scale}: {seconds:.1f}s, peak RSS {rss:.0f} MB")

    as_of = datetime.now(UTC).replace(microsecond=0)
    baseline_db, project_db = workdir / "baseline.db", workdir / "project.db"
    for path in (project_db, Path(f"{project_db}-wal"), Path(f"{project_db}-shm")):
        path.unlink(missing_ok=True)

    baseline = [
        sys.executable,
        str(HERE / "baseline_loader.py"),
        "--chdb",
        str(chdb_dir),
        "--as-of",
        as_of.strftime("%Y-%m-%d %H:%M:%S"),
    ]
    pk_only_db = workdir / "baseline-pk-only.db"
    runs = [
        ("baseline (EF table: key + 2 indexes)", baseline_db, [*baseline, "--sqlite"]),
        (
            "baseline (primary key only)",
            pk_only_db,
            [*baseline, "--without-secondary-indexes", "--sqlite"],
        ),
        (
            "project (EF table: key + 2 indexes)",
            project_db,
            [
                str(BIN / "bfstats"),
                "backfill",
                "server-online-counts",
                "--force",
                "--as-of",
                as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--sqlite",
            ],
        ),
    ]
    results = []
    for label, db, command in runs:
        seconds, rss = run_measured(label, [*command, str(db)], env)
        results.append((label, table_rows(db), seconds, rss))
    if len({rows for _, rows, _, _ in results}) != 1:
        raise SystemExit(f"row counts differ: {results}")

    print(f"\nServerOnlineCounts at scale {args.scale}, as_of {as_of:%Y-%m-%dT%H:%M:%SZ}")
    print(f"{'':40} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'peak RSS':>10}")
    for label, rows, seconds, rss in results:
        print(f"{label:40} {rows:>10,} {seconds:>9.1f} {rows / seconds:>10,.0f} {rss:>7,.0f} MB")
    speed = {label: rows / seconds for label, rows, seconds, _ in results}
    project, same_table, pk_only = speed[runs[2][0]], speed[runs[0][0]], speed[runs[1][0]]
    print(f"project / baseline into the same EF table: {project / same_table:.2f} (target >= 0.9)")
    print(f"project / primary-key-only baseline:       {project / pk_only:.2f}")
    print(f"project peak RSS: {results[2][3]:,.0f} MB (target < 1,500 MB)")


if __name__ == "__main__":
    main()
