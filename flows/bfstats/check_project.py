"""The generated dbt-sqlite project that checks the published tables, run in this process.

The repo keeps `sqlite_checks/` (dbt_project.yml, profiles.yml, the test macros). The checks
themselves are generated for the SQLite file being checked (bfstats.sqlite_checks) and written,
with a copy of those files, to `<dbt target folder>/sqlite_checks/project/` (git-ignored), where
they can also be run by hand (`python -m bfstats.check_project --help`).

The project is parsed once per process and content; each invocation gets its own deep copy of
that manifest (dbt mutates nodes while compiling). Every invocation goes through
dbt_invoke.invoke, which never lets two dbt invocations of this process overlap. The sqlite
invocations have their own target and log folders, so they never touch the main project's
manifest or partial-parse state.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sqlite3
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bfstats import config, dbt_invoke

REPO_DIR = config.PROJECT_DIR / "sqlite_checks"
MODELS_FILE = "models/checks.yml"
SOURCE = "target"
_MODEL_SOURCE = re.compile(r"""source\(\s*['"]\w+['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")


class CheckProjectError(RuntimeError):
    """The dbt-sqlite checks could not run; the message says why and where to look."""


@dataclass(frozen=True)
class TestOutcome:
    table: str  # the SQLite table the test is attached to
    name: str  # the dbt test's name
    status: str  # pass, fail, error, warn
    failures: int | None
    message: str | None
    seconds: float


def _dbt_dir(env_name: str, default: str) -> Path:
    """This project's own folder under the main project's dbt target or log folder."""
    return config.resolve(os.environ.get(env_name) or default) / "sqlite_checks"


def target_dir() -> Path:
    return _dbt_dir("DBT_TARGET_PATH", "target")


def log_dir() -> Path:
    return _dbt_dir("DBT_LOG_PATH", "logs")


def project_dir() -> Path:
    return target_dir() / "project"


def _files(yaml_text: str) -> dict[str, str]:
    files = {name: (REPO_DIR / name).read_text() for name in ("dbt_project.yml", "profiles.yml")}
    for path in sorted((REPO_DIR / "macros").glob("*.sql")):
        files[f"macros/{path.name}"] = path.read_text()
    files[MODELS_FILE] = yaml_text
    return files


def write_project(yaml_text: str) -> tuple[Path, str]:
    """Write the generated project (only files whose content changed); returns its folder and
    a digest of its content, the key of the parsed manifest."""
    files = _files(yaml_text)
    root = project_dir()
    for stale in [*root.glob("macros/*"), *root.glob("models/*")]:
        if str(stale.relative_to(root)) not in files:
            stale.unlink()
    digest = hashlib.sha256()
    for name, text in files.items():
        digest.update(f"{name}\0{text}\0".encode())
        path = root / name
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(path.suffix + ".tmp")
            scratch.write_text(text)
            scratch.replace(path)
    return root, digest.hexdigest()


def dbt_vars(sqlite_file: Path) -> dict:
    # dbt-sqlite attaches every *.db file of this folder: give it one that holds none.
    attach_dir = target_dir() / "attach"
    attach_dir.mkdir(parents=True, exist_ok=True)
    return {"sqlite_path": str(sqlite_file), "sqlite_attach_dir": str(attach_dir)}


def project(digest: str) -> dbt_invoke.Project:
    root = project_dir()
    return dbt_invoke.Project(SOURCE, root, root, target_dir(), log_dir(), revision=digest)


def _selection(tables: list[str], across_only: bool) -> list[str]:
    if not across_only:
        return [f"source:{SOURCE}.{table}" for table in tables]
    return _across(tables)


def _across(tables: list[str]) -> list[str]:
    # dbt's intersection (`a,b`) of two tables' descendants: the tests that read both.
    return [
        f"source:{SOURCE}.{first}+,source:{SOURCE}.{second}+"
        for i, first in enumerate(tables)
        for second in tables[i + 1 :]
    ]


def run_tests(
    sqlite_file: Path,
    yaml_text: str,
    tables: list[str],
    *,
    across_only: bool = False,
    own_only: bool = False,
) -> list[TestOutcome]:
    """Run the generated tests of `tables` on the SQLite file, in one dbt invocation. Tests
    that read several tables run only when all of them are among `tables`; `across_only`: only
    those (the tests of a single table ran with it); `own_only`: none of those (each table's
    own tests, several tables checked at once)."""
    selection = _selection(tables, across_only)
    if not selection:
        return []
    exclude = _across(tables) if own_only and not across_only else []
    # Held while the files are written too: no invocation may read them half-written.
    with dbt_invoke.one_at_a_time:
        _, digest = write_project(yaml_text)
        try:
            outcome = dbt_invoke.invoke(
                project(digest),
                [
                    "test",
                    "--select",
                    *selection,
                    *(["--exclude", *exclude] if exclude else []),
                    "--indirect-selection",
                    "cautious",
                ],
                dbt_vars(sqlite_file),
            )
        except dbt_invoke.DbtError as error:
            raise CheckProjectError(f"{error}; see {log_dir()}/dbt.log") from None
    results = getattr(outcome.result, "results", None)
    if "dbt" in outcome.messages or results is None:
        raise CheckProjectError(
            f"dbt test of the generated checks in {project_dir()} on {sqlite_file} did not run: "
            f"{outcome.messages.get('dbt', 'no results')}; see {log_dir()}/dbt.log"
        )
    return [
        TestOutcome(
            _attached_table(item.node),
            item.node.name,
            str(item.status),
            item.failures,
            item.message,
            float(item.execution_time or 0.0),
        )
        for item in results
    ]


def _attached_table(node) -> str:
    metadata = getattr(node, "test_metadata", None)
    match = _MODEL_SOURCE.search(str(metadata.kwargs.get("model", ""))) if metadata else None
    if match:
        return match.group(1)
    sources = getattr(node, "sources", None) or [["", "?"]]
    return sources[0][1]


def by_hand_command(sqlite_file: Path, select: str = "source:target.<Table>") -> str:
    """The dbt command that runs the generated checks again (after write_project)."""
    dbt_vars = json.dumps(
        {"sqlite_path": str(sqlite_file), "sqlite_attach_dir": str(target_dir() / "attach")}
    )
    return (
        f".venv/bin/dbt test --project-dir {project_dir()} --profiles-dir {project_dir()} "
        f"--target-path {target_dir()} --vars '{dbt_vars}' --select {select} "
        "--indirect-selection cautious"
    )


def main(argv: list[str] | None = None) -> int:
    """Write the checks of a SQLite file as a dbt project and print how to run them."""
    from bfstats import catalog, sqlite_checks

    parser = argparse.ArgumentParser(
        prog="python -m bfstats.check_project",
        description="Generate the dbt-sqlite checks of a SQLite file (the backfill's "
        "reconciliation) and print the dbt command that runs them.",
    )
    parser.add_argument("--sqlite", help="the SQLite file (default: $BFSTATS_SQLITE_PATH)")
    parser.add_argument("--coverage", action="store_true", help="print what checks each column")
    parser.add_argument(
        "--as-of",
        help="the run's as_of: the tables' as_of columns (UpdatedAt) must hold exactly it, as in "
        "the run's own checks (default: they must hold an instant)",
    )
    args = parser.parse_args(argv)
    sqlite_file = config.sqlite_path(args.sqlite)
    if not sqlite_file.is_file():
        print(f"SQLite file {sqlite_file} does not exist; pass --sqlite", file=sys.stderr)
        return 2
    with closing(sqlite3.connect(f"{sqlite_file.as_uri()}?mode=ro", uri=True)) as conn:
        plans = sqlite_checks.plan(catalog.load(), conn, as_of=args.as_of)
    root, _ = write_project(sqlite_checks.render_yaml(plans))
    print(f"wrote {root / MODELS_FILE}")
    if args.coverage:
        for table_plan in plans:
            print(f"{table_plan.table}:")
            for column, what in table_plan.coverage().items():
                print(f"  {column}: {'; '.join(what) or 'nothing'}")
    print("run the checks of one table (several: repeat source:target.<Table> after --select):")
    print(f"  {by_hand_command(sqlite_file)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
