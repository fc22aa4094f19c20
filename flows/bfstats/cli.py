"""`bfstats`: backfill, status, schema, generate, serve."""

from __future__ import annotations

import argparse
import atexit
import multiprocessing.util
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from bfstats import stopping
from bfstats.errors import BfstatsError, UsageError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bfstats",
        description="Backfill the bfstats analytics from ClickHouse (dbt models) into SQLite.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser(
        "generate", help="write deterministic synthetic raw data into the configured ClickHouse"
    )
    generate.add_argument(
        "--scale",
        type=_positive_float,
        default=1.0,
        help="1 = production volumes (about 1 000 servers, 50 k players)",
    )
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument(
        "--cadence-minutes",
        type=_positive_int,
        default=5,
        help="minutes between server_online_counts samples (production: 1)",
    )
    generate.add_argument(
        "--days", type=_positive_int, default=180, help="days of history ending now"
    )
    generate.add_argument(
        "--end-time",
        help="ISO 8601 UTC instant the data ends at (default: now, truncated to the minute); "
        "fix it for repeatable data",
    )
    generate.add_argument(
        "--replace",
        action="store_true",
        help="empty the raw tables first instead of refusing when they hold rows",
    )

    backfill = commands.add_parser(
        "backfill", help="compute the marts with dbt and load them into SQLite (resumable)"
    )
    backfill.add_argument(
        "services", nargs="+", metavar="SERVICE", help="`all` or one or more service names"
    )
    backfill.add_argument(
        "--as-of",
        help="snapshot instant, ISO 8601 UTC (default: now, or "
        "the instant of the interrupted run being resumed)",
    )
    backfill.add_argument("--batch-size", type=_positive_int, default=1000)
    backfill.add_argument(
        "--force", action="store_true", help="run services that already completed, from scratch"
    )
    backfill.add_argument(
        "--sqlite", help="SQLite file (default $BFSTATS_SQLITE_PATH or ./data/bfstats.db)"
    )
    backfill.add_argument(
        "--allow-shrink",
        action="store_true",
        help="publish a table even when it would lose most of its rows "
        "(below BFSTATS_MIN_ROW_FRACTION of them, default 0.5) or all of them",
    )

    status = commands.add_parser("status", help="the run metadata kept in the SQLite file")
    status.add_argument("--json", action="store_true", help="print a JSON list")
    status.add_argument("--sqlite", help="SQLite file")

    schema = commands.add_parser(
        "schema", help="print the SQLite DDL of each table and any drift, without loading"
    )
    schema.add_argument("--sqlite", help="SQLite file")
    schema.add_argument("--sql", action="store_true", help="print the DDL statements too")

    serve = commands.add_parser(
        "serve",
        help="serve the Prefect deployments backfill/all and "
        "backfill/<service> (one flow run at a time) until SIGTERM or Ctrl-C",
    )
    serve.add_argument(
        "--schedule",
        action="append",
        default=[],
        metavar="DEPLOYMENT=CRON",
        help='a cron schedule in UTC for one deployment, e.g. all="0 4 * * *" (repeatable; '
        "deployments without one have none)",
    )
    return parser


def _catalog():
    from bfstats import catalog

    return catalog.load()


def _cmd_backfill(args) -> int:
    from bfstats import as_of, catalog, config, sqlite_store

    # SIGTERM ends the run like Ctrl-C: recorded as interrupted, exit 143. (Prefect's flow engine
    # puts its own SIGTERM handler in front while the flow runs and then calls this one.)
    stopping.install_handlers()

    requested_as_of = None
    if args.as_of:
        requested_as_of = as_of.parse(args.as_of)
        as_of.refuse_future(requested_as_of)
    try:
        catalog.check_service_names(args.services)
    except catalog.CatalogError as error:
        raise UsageError(str(error)) from None
    path = config.sqlite_path(args.sqlite)
    config.min_row_fraction()  # a bad value is a usage error now, not a failed load per table
    config.clickhouse_nice()
    try:
        sqlite_store.preflight(path)
    except sqlite_store.SqliteTargetError as error:
        raise UsageError(str(error)) from None

    # At once, before Prefect starts; the flow takes the run lock itself, which settles a race
    # between two backfills that both got past this.
    sqlite_store.run_lock.refuse_if_held(path)
    with _prefect_api():
        # Prefect first: it sets up the log format before dbt touches logging. Both import and
        # dbt parses while the temporary Prefect server boots on the other core.
        import bfstats.flow  # noqa: F401

        started = time.perf_counter()
        catalog.load()
        stopping.check()  # a Ctrl-C during the parse that dbt carried on from
        from bfstats.progress import logger

        logger().info("dbt project parsed in %.1fs", time.perf_counter() - started)
        return _run_backfill(args, requested_as_of, path)


@contextmanager
def _prefect_api():
    """A temporary Prefect server for this run unless a Prefect API is configured."""
    from bfstats import temporary_server

    if temporary_server.configured_api_url():
        yield
        return
    server = temporary_server.TemporaryServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield server
    finally:
        _drain_prefect_logs()
        server.stop()
        os.environ.pop("PREFECT_API_URL", None)


def _drain_prefect_logs() -> None:
    """Send the run's last log records and events while the server is still there."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)


def _run_backfill(args, requested_as_of: str | None, path) -> int:
    from bfstats import temporary_server
    from bfstats.cli_progress import progress_bar
    from bfstats.flow import backfill
    from bfstats.progress import logger

    server = temporary_server.running()
    if server is not None:
        server.wait_ready()
        logger().info(
            "Temporary Prefect server ready on %s (log: %s)", server.api_url, server.log_path
        )
    try:
        with progress_bar(), _heartbeats_unless_watched(server):
            state = backfill(
                services=args.services,
                as_of=requested_as_of,
                batch_size=args.batch_size,
                force=args.force,
                sqlite_path=str(path),
                allow_shrink=args.allow_shrink,
                return_state=True,
            )
    except BaseException as error:
        signum = stopping.signal_of(error)
        if signum is None:
            raise
        _exit_interrupted(signum, path, server)
    outcome = state.result(raise_on_failure=False)
    # A failed run holds its error: BackfillFailed with every service's result, or what kept the
    # run from starting (another backfill holding the file: its own exit code, 75).
    results = getattr(outcome, "results", outcome)
    if isinstance(results, list):
        _print_summary(results, path)
    if state.is_failed():
        print(f"bfstats: backfill failed: {state.message}", file=sys.stderr)
        return getattr(outcome, "exit_code", 1)
    return 0


@contextmanager
def _heartbeats_unless_watched(server):
    """No flow-run heartbeats with the temporary server. They let a server's automation mark a
    run whose process died as crashed; the temporary server ends with this process, so nothing
    could act on them. And they cost time: Prefect's heartbeat thread sleeps in 1 s steps, and
    the engine joins it when the flow returns, which held every run's end for up to 1 s (0.7-0.9
    s measured between the outcome line and "Finished in state"). With a configured Prefect API
    they stay on, sent by the flow itself from a thread that stops at once (`heartbeats`)."""
    from bfstats import heartbeats

    with heartbeats.instead_of_prefects(send_own=server is None):
        yield


def _exit_interrupted(signum: int, path, server) -> None:
    """End the process now: the flow recorded the run as interrupted; steps still running in
    other threads (a dbt model, a ClickHouse query) are abandoned like after a crash, which the
    checkpoints make safe."""
    name = signal.Signals(signum).name
    print(
        f"bfstats: interrupted by {name}; the loads are recorded up to their last checkpoint "
        f"in {path}: run the same command again to resume (`bfstats status` shows where)",
        file=sys.stderr,
    )
    try:
        _drain_prefect_logs()
    finally:
        if server is not None:
            server.stop()
        # What the interpreter's exit would do and os._exit skips: unlink dbt's multiprocessing
        # semaphores (else the resource tracker warns about leaked ones after we are gone).
        multiprocessing.util._exit_function()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)


def _console():
    """A rich console; wide enough for the tables when the output is a file or a pipe."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=140)


def _print_summary(results: list[dict], path) -> None:
    """One line per table loaded (or per service skipped)."""
    from rich.table import Table

    from bfstats.progress import rows_text

    table = Table(title=f"backfill into {path}")
    numeric = ("rows", "load s", "publish s", "checks s")
    for column in ("service", "status", "as_of", "table", *numeric):
        table.add_column(column, justify="right" if column in numeric else "left")
    for result in results:
        for load in result["tables"]:
            skipped = result["status"] == "skipped"
            table.add_row(
                result["service"],
                result["status"] if skipped else load["status"],
                result["as_of"],
                load["table"],
                "" if skipped else rows_text(load["rows_written"], load["rows_expected"]),
                *(
                    "" if skipped else f"{load[key]:.1f}"
                    for key in ("load_seconds", "publish_seconds", "check_seconds")
                ),
            )
    _console().print(table)


def _print_status(path, as_json: bool) -> None:
    """One line per service (status, as_of, rows "N of M", duration, who runs or ran it, the
    reason), then one line per table: complete or not, rows "N of M"."""
    import json

    from bfstats import catalog, sqlite_store
    from bfstats.progress import rows_text

    tables = catalog.service_tables()
    names = list(tables)
    conn = sqlite_store.connect_read_only(path)
    if conn is None:
        report = sqlite_store.RunLedger.pending_report(names, tables)
    else:
        with conn:
            report = sqlite_store.RunLedger(conn).status_report(names, tables)
        conn.close()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"bfstats backfill status - {path}")
    for column in ("service / table", "status", "as_of", "rows", "duration", "run by"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    table.add_column("error", overflow="fold")
    for entry in report:
        duration = entry.get("duration_seconds")
        run_by = f"pid {entry['pid']} on {entry['host']}" if entry.get("pid") is not None else ""
        table.add_row(
            entry["service"],
            entry["status"],
            entry["as_of"] or "",
            rows_text(entry["rows_written"], entry["rows_expected"]),
            f"{duration:.1f}s" if duration is not None else "",
            run_by,
            (entry.get("error") or "")[:300],
        )
        for load in entry.get("tables", []):
            table.add_row(
                f"  {load['table']}",
                "complete" if load["complete"] else "incomplete",
                "",
                rows_text(load["rows_written"], load["rows_expected"]),
            )
    _console().print(table)


def _cmd_status(args) -> int:
    from bfstats.config import sqlite_path

    _print_status(sqlite_path(args.sqlite), as_json=args.json)
    return 0


def _cmd_schema(args) -> int:
    from bfstats.config import sqlite_path
    from bfstats.sqlite_schema import report

    text, ok = report.render(_catalog(), sqlite_path(args.sqlite), show_sql=args.sql)
    print(text)
    return 0 if ok else 1


def _cmd_serve(args) -> int:
    # Checked before any deployment is registered: a typo must not leave a half-served set.
    from bfstats import catalog, deployments

    names = deployments.deployment_names(catalog.service_names())
    schedules = deployments.parse_schedules(args.schedule, names)
    return deployments.serve(schedules, deployments.api_url())


def _cmd_generate(args) -> int:
    from bfstats import as_of, demo

    try:
        end_time = (
            as_of.to_datetime(as_of.parse(args.end_time, "--end-time")) if args.end_time else None
        )
    except as_of.AsOfError as error:
        raise UsageError(str(error)) from None

    report = demo.generate(
        scale=args.scale,
        seed=args.seed,
        cadence_minutes=args.cadence_minutes,
        days=args.days,
        replace=args.replace,
        end_time=end_time,
    )
    for line in report.summary_lines():
        print(line)
    return 0


COMMANDS = {
    "backfill": _cmd_backfill,
    "status": _cmd_status,
    "schema": _cmd_schema,
    "serve": _cmd_serve,
    "generate": _cmd_generate,
}


def main(argv: list[str] | None = None) -> int:
    # Offline by default: no usage telemetry from the temporary Prefect server.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return _interrupted(signal.SIGINT)
    except BfstatsError as error:  # explained failures: one line on stderr, the error's exit code
        if stopping.requested():  # the stop caused it (dbt fails a parse it was interrupted in)
            return _interrupted(stopping.requested_signal())
        print(f"bfstats: error: {error}", file=sys.stderr)
        return error.exit_code


def console_main() -> None:
    """The `bfstats` command. (`main` is the same without ending the process: tests call it.)"""
    argv = sys.argv[1:]
    code = main(argv)
    if code == 0 and argv[:1] == ["backfill"]:
        _end_process(code)
    sys.exit(code)


def _end_process(code: int) -> None:
    """End the process at once, after what an exit must do, without the interpreter's teardown.

    After a backfill that teardown takes about 0.8 s, most of it freeing the modules and objects
    of dbt and Prefect one by one (0.5 s after merely importing them; the embedded engine's own
    shutdown takes 0.05 s). It writes nothing that matters: the flow closed its SQLite
    connections, and the engine's parts are on disk once an insert returns (a SIGKILLed run
    resumes from them). What an exit must do runs first, in the interpreter's order: the
    threads' exit callbacks (Prefect's log and event workers send what they still hold to the
    API), then `atexit`'s (dbt's multiprocessing semaphores, log files). Only after a completed
    backfill: a failure keeps the ordinary exit, an interrupt its own (`_exit_interrupted`)."""
    threading._shutdown()  # what the interpreter calls first at exit (no public equivalent)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _interrupted(signum: int) -> int:
    """Stopped before a flow run started (a run in progress is handled by _exit_interrupted):
    nothing was written, so nothing to resume; one line, no traceback."""
    print(f"bfstats: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
    return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
