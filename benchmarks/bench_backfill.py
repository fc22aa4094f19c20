"""Benchmark: the project against a hand-written baseline, on the same data, in one run.

Every figure is a ratio or a time measured in this one invocation (the machines are shared and
noisy: compare variants within a run, not across runs). Each variant runs as its own process, so
its peak RSS is its own (the temporary Prefect server, a child it waits for, counts in it).

Each project variant is paired with a baseline run just before it, and its ratio is taken
against that run: a machine that slows down during the benchmark slows both sides of a pair,
not only the variants that came late. `--rounds N` repeats the pairs and reports, per variant,
the median of the N pairs' ratios with their range, the time of its median run (whose stages
are shown) and the median peak RSS with the highest (`farm-bench`'s A B A B pairs, in the
project's own script).

Variants (ServerOnlineCounts at scale 1 is ~4.25 M rows):
- baseline:     `baseline_loader.py --without-secondary-indexes`: one streaming aggregation
                query into `executemany`, 1000-row transactions, a table with its key only
                (the baseline's best case; no dbt, checkpoints, tests, publish or checks);
- soc-temp:     `bfstats backfill server-online-counts --force` with a temporary Prefect server;
- soc-server:   the same with PREFECT_API_URL set to a running `prefect server` (the
                deployment path);
- all-new:      `bfstats backfill all --force` into a new file;
- all-api:      the same into a file created from the API's DDL (tests/fixtures/api-schema.sql);
- quick:        `bfstats status [--json]`, `--help` and usage errors (best of 3 each);
- resume:       `backfill all` into a new file, Ctrl-C (SIGINT to the process group) in the
                middle of ServerOnlineCounts, then the resume: seconds from "Beginning flow
                run" to its first committed batch.

Goals (issue 8): soc-temp >= 0.9x the baseline's speed, soc-server >= 1.1x; all-new and all-api
each <= 2.0x the baseline's time with peak RSS <= 1.5 GB; quick commands < 1 s; the resume
writes rows within 15 s of its flow run starting. Figures, not assertions.

For each project variant the stage breakdown is read from its log lines: startup (process start
to the flow run's start: imports, dbt parse, temporary server), parse, dbt build, data tests,
extract+load, publish, checks. The stages overlap (ClickHouse builds the next mart while SQLite
loads this one), so they add up to more than the wall time.

    .venv/bin/python benchmarks/bench_backfill.py --scale 1 [--reuse-data] [--rounds 3]
        [--only soc-temp,all-new]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
API_SCHEMA = REPO / "tests" / "fixtures" / "api-schema.sql"
VARIANTS = ["baseline", "soc-temp", "soc-server", "all-new", "all-api", "quick", "resume"]
STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) \| ")
STAGES = {  # stage -> the log lines that report a duration of it
    "parse": re.compile(r"dbt project parsed in ([\d.]+)s"),
    "dbt build": re.compile(r"Built \S+.* in ([\d.]+)s"),
    "data tests": re.compile(r"data tests passed in ([\d.]+)s"),
    "publish": re.compile(r": published [\d,]+ rows in ([\d.]+)s"),
    "checks": re.compile(r"checks (?:across .* )?passed in ([\d.]+)s"),
    "extract+load": re.compile(r": staged [\d,]+ rows in ([\d.]+)s"),
}


def seconds_of_day(line: str) -> float | None:
    match = STAMP.match(line)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class Run:
    """A child process measured as a whole: wall seconds, peak RSS (MB), its output."""

    def __init__(self, label: str, command: list[str], env: dict, check: bool = True):
        self.label = label
        started = time.perf_counter()
        self.started_at = time.time()
        child = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.output = child.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(child.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        self.seconds = time.perf_counter() - started
        self.rss_mb = usage.ru_maxrss / 1024
        if check and self.returncode != 0:
            sys.stdout.write(self.output[-6000:])
            raise SystemExit(f"{label} failed with exit code {self.returncode}")

    def breakdown(self) -> dict[str, float]:
        lines = self.output.splitlines()
        stages: dict[str, float] = {}
        start = time.localtime(self.started_at)
        process_start = start.tm_hour * 3600 + start.tm_min * 60 + start.tm_sec
        for line in lines:
            if "Beginning flow run" in line and "startup" not in stages:
                at = seconds_of_day(line)
                if at is not None:
                    stages["startup"] = (at - process_start) % 86400
            for stage, pattern in STAGES.items():
                match = pattern.search(line)
                if match:
                    stages[stage] = stages.get(stage, 0.0) + float(match.group(1))
        return stages


class Paired:
    """A variant's runs, each with the baseline run made just before it."""

    def __init__(self, faster_is_more: bool):
        self.speed = faster_is_more  # report baseline/variant ("speed"), else variant/baseline
        self.pairs: list[tuple[Run, Run]] = []  # (baseline, variant)

    def add(self, baseline: Run, run: Run) -> None:
        self.pairs.append((baseline, run))

    def ratios(self) -> list[float]:
        return [
            base.seconds / run.seconds if self.speed else run.seconds / base.seconds
            for base, run in self.pairs
        ]

    def median_run(self) -> Run:
        """The variant's run of median time (the lower middle one of an even count)."""
        ordered = sorted((run for _, run in self.pairs), key=lambda run: run.seconds)
        return ordered[(len(ordered) - 1) // 2]

    def summary(self) -> str:
        ratios = self.ratios()
        text = f"{statistics.median(ratios):.2f}x {'speed' if self.speed else 'time'}"
        if len(ratios) > 1:
            text += f" (pairs {min(ratios):.2f}x-{max(ratios):.2f}x)"
        return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrefectServer:
    def __init__(self, home: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.home = home

    def __enter__(self):
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        self.process = subprocess.Popen(
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return self
            except OSError:
                time.sleep(0.5)
        raise SystemExit("prefect server did not start")

    def __exit__(self, *exc_info):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm", ".bfstats.lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def api_file(path: Path) -> Path:
    with sqlite3.connect(fresh(path)) as conn:
        conn.executescript(API_SCHEMA.read_text())
    return path


def rows(path: Path, table: str = "ServerOnlineCounts") -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608


def time_resume(env: dict, workdir: Path, as_of: str) -> dict:
    """Interrupt a backfill in the middle of ServerOnlineCounts, then resume it."""
    db = fresh(workdir / "resume.db")
    command = [str(BIN / "bfstats"), "backfill", "all", "--as-of", as_of, "--sqlite", str(db)]
    child = subprocess.Popen(
        command,
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and _checkpoint_rows(db) < 500_000:
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGINT)
    child.wait(timeout=120)
    interrupted_rows = _checkpoint_rows(db)  # after the exit: a batch may commit meanwhile
    first_write: list[float] = []

    def watch() -> None:
        while not first_write:
            if _checkpoint_rows(db) > interrupted_rows:
                first_write.append(time.time())
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    run = Run("resume", command, env)
    begun = next(
        (seconds_of_day(line) for line in run.output.splitlines() if "Beginning flow run" in line),
        None,
    )
    result = {
        "interrupted exit": child.returncode,
        "rows before": interrupted_rows,
        "wall": run.seconds,
        "reused": run.output.count("Reusing "),
    }
    if first_write and begun is not None:
        at = time.localtime(first_write[0])
        written = at.tm_hour * 3600 + at.tm_min * 60 + at.tm_sec + first_write[0] % 1
        result["flow start to first write"] = (written - begun) % 86400
    return result


def _checkpoint_rows(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute(
                "SELECT rows_written FROM _bfstats_checkpoints "
                "WHERE sqlite_table = 'ServerOnlineCounts'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return row[0] if row else 0


def time_quick(env: dict, workdir: Path) -> dict[str, float]:
    commands = {
        "status": ["status", "--sqlite", str(workdir / "all-new.db")],
        "status --json": ["status", "--json", "--sqlite", str(workdir / "all-new.db")],
        "--help": ["--help"],
        "unknown service": ["backfill", "no-such-service"],
        "bad --as-of": ["backfill", "all", "--as-of", "13/03/2024"],
        "bad --batch-size": ["backfill", "all", "--batch-size", "0"],
    }
    best = {}
    for name, args in commands.items():
        best[name] = min(
            Run(name, [str(BIN / "bfstats"), *args], env, check=False).seconds for _ in range(3)
        )
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default="/tmp/bfstats-bench")
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="keep the raw data generated by an earlier run in --workdir",
    )
    parser.add_argument("--only", help=f"comma-separated variants of: {', '.join(VARIANTS)}")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="pairs (baseline, variant) per project variant; the median ratio is reported",
    )
    args = parser.parse_args()
    wanted = args.only.split(",") if args.only else VARIANTS
    rounds = args.rounds
    if rounds < 1:
        parser.error(f"--rounds must be at least 1, got {rounds}")

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    chdb_dir = workdir / "clickhouse"
    env = {
        **os.environ,
        "BFSTATS_CHDB_PATH": str(chdb_dir),
        "BFSTATS_TARGET": "local",
        "DBT_TARGET_PATH": str(workdir / "target"),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "PREFECT_HOME": str(workdir / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    bfstats = str(BIN / "bfstats")
    if not (args.reuse_data and chdb_dir.exists()):
        run = Run(
            "generate",
            [
                bfstats,
                "generate",
                "--scale",
                str(args.scale),
                "--seed",
                str(args.seed),
                "--replace",
            ],
            env,
        )
        print(f"generate scale {args.scale}: {run.seconds:.1f}s, peak RSS {run.rss_mb:,.0f} MB")
    as_of = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Warm-up, not measured: the temporary server's database migrations on a new PREFECT_HOME
    # and dbt's partial-parse state, which every later run finds in place (as a user's would).
    Run(
        "warm-up",
        [
            bfstats,
            "backfill",
            "player-milestones",
            "--force",
            "--as-of",
            as_of,
            "--sqlite",
            str(fresh(workdir / "warm-up.db")),
        ],
        env,
    )

    soc = [bfstats, "backfill", "server-online-counts", "--force", "--as-of", as_of, "--sqlite"]
    every = [bfstats, "backfill", "all", "--force", "--as-of", as_of, "--sqlite"]
    baseline_command = [
        sys.executable,
        str(HERE / "baseline_loader.py"),
        "--chdb",
        str(chdb_dir),
        "--as-of",
        as_of.replace("T", " ").rstrip("Z"),
        "--without-secondary-indexes",
        "--sqlite",
        str(workdir / "baseline.db"),
    ]

    def baseline() -> Run:
        fresh(workdir / "baseline.db")
        return Run("baseline", baseline_command, env)

    # The project's variants, in the order they run in a round: label -> its command, with
    # the target file made anew for each run.
    variants = {
        "soc-temp": lambda: [*soc, str(fresh(workdir / "soc-temp.db"))],
        "soc-server": lambda: [*soc, str(fresh(workdir / "soc-server.db"))],
        "all-new": lambda: [*every, str(fresh(workdir / "all-new.db"))],
        "all-api": lambda: [*every, str(api_file(workdir / "all-api.db"))],
    }
    variants = {label: command for label, command in variants.items() if label in wanted}
    results: dict[str, Paired] = {
        label: Paired(faster_is_more=label.startswith("soc")) for label in variants
    }
    baselines: list[Run] = []
    with contextlib.ExitStack() as stack:
        environments = dict.fromkeys(variants, env)
        if "soc-server" in variants:
            server = stack.enter_context(PrefectServer(workdir / "prefect-server-home"))
            environments["soc-server"] = {**env, "PREFECT_API_URL": server.url}
            Run("warm-up (server)", variants["soc-server"](), environments["soc-server"])
        if "baseline" in wanted and not variants:
            baselines.append(baseline())
        for _ in range(rounds):
            for label, command in variants.items():
                base = baseline()
                baselines.append(base)
                results[label].add(base, Run(label, command(), environments[label]))
    baseline_rows = rows(workdir / "baseline.db") if baselines else 0
    quick = time_quick(env, workdir) if "quick" in wanted else {}
    resume = time_resume(env, workdir, as_of) if "resume" in wanted else {}

    print(
        f"\nscale {args.scale}, as_of {as_of}, {os.cpu_count()} cores; each run is a process; "
        f"{rounds} pair(s) of (baseline, variant) per variant"
    )
    print(f"{'variant':12} {'seconds':>8} {'peak RSS':>10}  {'vs baseline':46}  stages (s)")
    baseline_median = statistics.median(run.seconds for run in baselines) if baselines else None
    if baselines:
        times = [run.seconds for run in baselines]
        spread = f"runs {min(times):.1f}-{max(times):.1f} s" if len(times) > 1 else ""
        rss = statistics.median(run.rss_mb for run in baselines)
        print(f"{'baseline':12} {baseline_median:>8.1f} {rss:>7,.0f} MB  {spread:46}")
        (workdir / "baseline.log").write_text(baselines[-1].output)
    for label, paired in results.items():
        run = paired.median_run()
        (workdir / f"{label}.log").write_text(run.output)  # for a closer look at its stages
        peaks = [variant.rss_mb for _, variant in paired.pairs]
        summary = paired.summary()
        if len(peaks) > 1:
            summary += f", RSS up to {max(peaks):,.0f} MB"
        stages = ", ".join(f"{k} {v:.1f}" for k, v in run.breakdown().items())
        rss = statistics.median(peaks)
        print(f"{label:12} {run.seconds:>8.1f} {rss:>7,.0f} MB  {summary:46}  {stages}")
    if baselines:
        rate = baseline_rows / baseline_median
        print(f"baseline rows: {baseline_rows:,} ({rate:,.0f} rows/s, the median run)")
    for name, seconds in quick.items():
        print(f"quick  {name:18} {seconds:.2f}s")
    for name, value in resume.items():
        print(
            f"resume {name:26} {value:.1f}"
            if isinstance(value, float)
            else f"resume {name:26} {value}"
        )
    print(
        "goals: soc-temp >= 0.90x, soc-server >= 1.10x speed; all-* <= 2.00x time and "
        "<= 1,500 MB; quick < 1 s; resume flow start to first write < 15 s"
    )


if __name__ == "__main__":
    main()
