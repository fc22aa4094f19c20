"""`bfstats`: backfill, status, schema, generate, serve."""

from __future__ import annotations

import argparse
import os
import sys

from bfstats.errors import UsageError


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
    # Imported first so that Prefect sets up its log format before dbt touches logging.
    from bfstats import as_of, sqlite_store
    from bfstats.catalog import CatalogError
    from bfstats.config import sqlite_path
    from bfstats.flow import backfill

    try:
        requested_as_of = as_of.parse(args.as_of) if args.as_of else None
        path = sqlite_path(args.sqlite)
        sqlite_store.connect(path).close()
        _catalog().select(args.services)
    except (as_of.AsOfError, CatalogError, sqlite_store.SqliteTargetError) as error:
        raise UsageError(str(error)) from None

    from bfstats.cli_progress import progress_bar

    with progress_bar():
        state = backfill(
            services=args.services,
            as_of=requested_as_of,
            batch_size=args.batch_size,
            force=args.force,
            sqlite_path=str(path),
            return_state=True,
        )
    if state.is_failed():
        print(f"bfstats: backfill failed: {state.message}", file=sys.stderr)
        return 1
    _print_summary(state.result(), path)
    return 0


def _console():
    """A rich console; wide enough for the tables when the output is a file or a pipe."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=140)


def _print_summary(results: list[dict], path) -> None:
    """One line per table loaded (or per service skipped)."""
    from rich.table import Table

    table = Table(title=f"backfill into {path}")
    for column in ("service", "status", "as_of", "table", "rows", "seconds"):
        table.add_column(column, justify="right" if column in ("rows", "seconds") else "left")
    for result in results:
        loads = result["tables"] or [None]
        for load in loads:
            table.add_row(
                result["service"],
                result["status"],
                result["as_of"],
                load["table"] if load else "-",
                f"{load['rows_written']:,}" if load else f"{result['rows_written']:,}",
                f"{load['seconds']:.1f}" if load else "",
            )
    _console().print(table)


def _print_status(path, as_json: bool) -> None:
    import json

    from bfstats import sqlite_store

    names = _catalog().names
    conn = sqlite_store.connect_read_only(path)
    if conn is None:
        report = sqlite_store.RunLedger.pending_report(names)
    else:
        with conn:
            report = sqlite_store.RunLedger(conn).status_report(names)
        conn.close()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"bfstats backfill status - {path}")
    for column in ("service", "status", "as_of", "rows", "duration", "error"):
        table.add_column(column)
    for entry in report:
        expected = entry["rows_expected"]
        rows = f"{entry['rows_written']:,}/{'?' if expected is None else f'{expected:,}'}"
        duration = entry.get("duration_seconds")
        table.add_row(
            entry["service"],
            entry["status"],
            entry["as_of"] or "",
            rows,
            f"{duration:.1f}s" if duration is not None else "",
            (entry.get("error") or "")[:200],
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
    from bfstats import deployments

    # Checked before any deployment is registered: a typo must not leave a half-served set.
    schedules = deployments.parse_schedules(args.schedule, deployments.deployment_names(_catalog()))
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
    except UsageError as error:
        print(f"bfstats: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # any other failure: one line on stderr, non-zero exit
        from bfstats.catalog import CatalogError
        from bfstats.dbt_invoke import DbtError
        from bfstats.sqlite_store import SqliteTargetError

        if not isinstance(error, CatalogError | DbtError | SqliteTargetError):
            raise
        print(f"bfstats: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
