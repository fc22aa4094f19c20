"""Run dbt in this process (dbtRunner), so dbt and the extractor share one embedded engine.

Four rules govern every invocation, for both dbt projects of the repo (the main project on
ClickHouse and `sqlite_checks/` on the SQLite file):

- **Parse once per process.** `manifest(project, vars)` runs `dbt parse` once per project and
  configuration and keeps dbt's Manifest; later invocations get it (`dbtRunner(manifest=...)`) and
  skip parsing. Only the vars that change what dbt parses (`PARSE_VARS`: the sources' database)
  go to the parse. `as_of` does not: dbt keys partial parsing on the vars, so a run-specific var
  would make the next process parse the whole project again. Vars given to an invocation with a
  manifest do reach the SQL it compiles (tests/test_dbt_invoke.py checks it).
- **A fresh copy of the manifest per invocation.** dbt compiles nodes in place and, once an
  ephemeral model is marked compiled, reuses its SQL: a second `as_of` in the same process would
  silently read the first one's window.
- **One invocation at a time, first come first served.** dbt's adapter registry, flags and
  invocation context are process-wide, and the flow calls dbt from several Prefect task threads
  (build, test, check): they queue on `_LANE` in the order they asked.
- **manifest.json once, run_results.json every time.** The parse writes `manifest.json`; an
  invocation with the parsed manifest runs with `--no-write-json` and its `run_results.json` is
  written here, where dbt would have written it (`_write_run_results`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from bfstats import config
from bfstats.errors import BfstatsError

FAILED_STATUSES = {"error", "fail", "skipped", "runtime error"}
# Vars that change what `dbt parse` produces (sources.yml renders the database at parse time).
PARSE_VARS = ("source_database",)


class DbtError(BfstatsError, RuntimeError):
    """A dbt command failed; the message names the command and the failing nodes."""

    kind = "dbt failed"


@dataclass(frozen=True)
class Project:
    """A dbt project of this repo and where its dbt writes."""

    name: str
    project_dir: Path
    profiles_dir: Path
    target_path: Path | None = None  # None: DBT_TARGET_PATH or the project's own setting
    log_path: Path | None = None
    revision: str = ""  # for a generated project: a digest of its files (a new one re-parses)

    def argv(self) -> list[str]:
        argv = ["--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir)]
        if self.target_path is not None:
            argv += ["--target-path", str(self.target_path)]
        if self.log_path is not None:
            argv += ["--log-path", str(self.log_path)]
        return argv


def main_project() -> Project:
    config.pin_engine_path()
    return Project("bfstats", config.PROJECT_DIR, config.profiles_dir())


@dataclass
class DbtOutcome:
    success: bool
    node_status: dict[str, str] = field(default_factory=dict)  # unique_id -> status
    messages: dict[str, str] = field(default_factory=dict)  # unique_id -> error message
    depends_on: dict[str, list[str]] = field(default_factory=dict)  # unique_id -> parents
    result: object = None
    seconds: float = 0.0  # dbt's own time, without the wait for another invocation to end
    waited: float = 0.0  # the wait for the invocations queued before it

    def tests_run(self) -> int:
        """The data tests among the nodes (not the project's on-run-start/end hooks)."""
        return sum(1 for uid in self.node_status if uid.startswith("test."))

    def failed_nodes(self) -> set[str]:
        return {uid for uid, status in self.node_status.items() if status in FAILED_STATUSES}

    def problems(self) -> list[str]:
        """One entry per failed node (or the invocation's own error), without repeats and
        without dbt's Jinja call trail (`> in macro ...`)."""
        lines: list[str] = []
        for unique_id in sorted(self.failed_nodes()):
            line = f"{unique_id} {self.node_status[unique_id]}: {self.messages.get(unique_id, '')}"
            lines.append(line.strip())
        if "dbt" in self.messages:
            lines.append(self.messages["dbt"])
        return list(dict.fromkeys(_without_call_trail(line) for line in lines))


def _without_call_trail(text: str) -> str:
    kept = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(">")
    ]
    return "\n".join(kept)


class _FifoLock:
    """A lock granted in the order it was asked for (threading.Lock makes no such promise)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self):
        me = threading.get_ident()
        with self._condition:
            if self._owner == me:  # re-entrant: a dbt call inside a dbt call's thread
                self._depth += 1
                return self
            ticket = object()
            self._queue.append(ticket)
            while self._queue[0] is not ticket or self._owner is not None:
                self._condition.wait()
            self._queue.popleft()
            self._owner, self._depth = me, 1
        return self

    def __exit__(self, *exc_info) -> None:
        with self._condition:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._condition.notify_all()


_LANE = _FifoLock()
# For a dbt invocation made elsewhere (e.g. without a parsed manifest): hold it around the call.
one_at_a_time = _LANE
_manifests: dict[tuple, object] = {}


def _settings_key(project: Project, parse_vars: dict) -> tuple:
    environment = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith(("BFSTATS_", "DBT_")))
    )
    return (project, json.dumps(parse_vars, sort_keys=True), environment)


def _parse_vars(dbt_vars: dict | None) -> dict:
    return {k: v for k, v in (dbt_vars or {}).items() if k in PARSE_VARS}


def manifest(project: Project, dbt_vars: dict | None = None):
    """dbt's parsed Manifest of `project` for this configuration, parsed once per process."""
    parse_vars = _parse_vars(dbt_vars)
    key = _settings_key(project, parse_vars)
    with _LANE:
        if key not in _manifests:
            outcome = _invoke(project, ["parse"], parse_vars, parsed=None)
            if not outcome.success or outcome.result is None:
                detail = "; ".join(outcome.problems()) or f"see {_log_hint(project)}"
                raise DbtError(f"dbt parse of {project.project_dir} failed: {detail}")
            _manifests[key] = outcome.result
        return _manifests[key]


def forget_manifests(project_name: str | None = None) -> None:
    """Drop the parsed manifests (of one project, or all) after its files changed in this
    process."""
    with _LANE:
        for key in [k for k in _manifests if project_name in (None, k[0].name)]:
            del _manifests[key]


def invoke(project: Project, args: list[str], dbt_vars: dict | None = None) -> DbtOutcome:
    """`dbt <args>` on `project` with the process's parsed manifest; never raises for a failing
    node (the outcome says what failed)."""
    parsed = manifest(project, dbt_vars)
    asked = time.perf_counter()
    with _LANE:
        started = time.perf_counter()
        outcome = _invoke(project, args, dbt_vars, parsed=_fresh_copy(parsed))
    outcome.seconds, outcome.waited = time.perf_counter() - started, started - asked
    return outcome


# Derived caches of the Manifest: left empty in a copy, dbt rebuilds them from its nodes.
_REBUILT = ("_macros_by_name", "_macros_by_package")
# Inputs dbt never changes while it compiles and runs, and the lock that guards changes to the
# nodes (a multiprocessing lock: one per copy would leak semaphores): shared, not copied.
_SHARED = ("files", "macros", "docs", "_lock")


def _fresh_copy(parsed):
    """A copy of the Manifest that an invocation may compile into. Not `copy.deepcopy`: dbt
    1.11's `Manifest.__reduce_ex__` leaves out the `fixtures` field, so every later field of a
    copy lands one place off (the ref lookup becomes a metric lookup)."""
    clone = object.__new__(type(parsed))
    for spec in dataclasses.fields(parsed):
        value = getattr(parsed, spec.name)
        if spec.name.endswith("_lookup") or spec.name in _REBUILT:
            value = None
        elif spec.name not in _SHARED:
            value = copy.deepcopy(value)
        object.__setattr__(clone, spec.name, value)
    return clone


def _invoke(project: Project, args: list[str], dbt_vars: dict | None, parsed) -> DbtOutcome:
    from dbt.cli.main import dbtRunner

    argv = [*args, *project.argv()]
    if dbt_vars:
        argv += ["--vars", json.dumps(dbt_vars)]
    if os.environ.get("BFSTATS_DBT_QUIET", "1") == "1":
        # Nothing on the console: what failed reaches the user once, in bfstats' own message;
        # dbt's log file keeps everything.
        argv += ["--log-level", "none", "--log-level-file", "debug"]
    if parsed is not None:
        argv.append("--no-write-json")
    outcome = dbtRunner(manifest=parsed).invoke(argv)
    if parsed is not None:
        _write_run_results(project, outcome.result)
    node_status, messages, depends_on = {}, {}, {}
    results = getattr(outcome.result, "results", None) or []
    for item in results:
        node = getattr(item, "node", None)
        unique_id = getattr(node, "unique_id", None)
        if unique_id is None:
            continue
        node_status[unique_id] = str(item.status)
        parents = getattr(getattr(node, "depends_on", None), "nodes", None)
        depends_on[unique_id] = list(parents or [])
        if str(item.status) in FAILED_STATUSES:
            messages[unique_id] = str(item.message or item.status)
    if outcome.exception is not None:
        messages["dbt"] = f"dbt {' '.join(args)} failed: {outcome.exception}"
    return DbtOutcome(outcome.success, node_status, messages, depends_on, outcome.result)


def close_idle_connections() -> None:
    """Close the embedded engine's clients that dbt-chdb keeps between invocations, so that the
    engine lets go of its data directory once the run's own sessions are closed too. Only idle
    clients are closed, so this does not wait for an invocation still running in another thread
    (after an interrupt)."""
    from dbt.adapters.chdb.connections import idle_clients

    idle_clients.close_all()


def _target_dir(project: Project) -> Path:
    """Where dbt writes this project's artifacts: `--target-path`, else DBT_TARGET_PATH, else
    the main project's `target-path: "target"` (as `_log_hint` finds its logs)."""
    return project.target_path or config.resolve(os.environ.get("DBT_TARGET_PATH") or "target")


def _write_run_results(project: Project, result) -> None:
    """`run_results.json`, written where and as dbt writes it. An invocation with the parsed
    manifest runs with `--no-write-json` so that dbt does not write `manifest.json` again: the
    parse wrote it, and rewriting it took about 0.1 s of the GIL per invocation (26 of them in a
    `backfill all`). The compiled SQL of each node stays in target/compiled and target/run."""
    from dbt.artifacts.schemas.run import RunExecutionResult, RunResultsArtifact

    if isinstance(result, RunExecutionResult | RunResultsArtifact):
        target = _target_dir(project)
        target.mkdir(parents=True, exist_ok=True)
        result.write(str(target / "run_results.json"))


def _log_hint(project: Project) -> str:
    log_path = project.log_path or config.resolve(os.environ.get("DBT_LOG_PATH") or "logs")
    return f"{log_path}/dbt.log"


def run(args: list[str], dbt_vars: dict | None = None) -> DbtOutcome:
    """`dbt <args>` on the main project (ClickHouse)."""
    return invoke(main_project(), args, dbt_vars)


def run_operation(macro: str, macro_args: dict, dbt_vars: dict | None = None) -> DbtOutcome:
    outcome = run(["run-operation", macro, "--args", json.dumps(macro_args)], dbt_vars)
    if not outcome.success:
        detail = "; ".join(outcome.problems()) or f"see {_log_hint(main_project())}"
        raise DbtError(f"dbt run-operation {macro} failed: {detail}")
    return outcome


def parse_manifest(dbt_vars: dict | None = None):
    """The main project's parsed Manifest (no database needed)."""
    return manifest(main_project(), dbt_vars)
