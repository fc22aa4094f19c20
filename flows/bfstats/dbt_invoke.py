"""Run dbt in this process (dbtRunner), so dbt and the extractor share one embedded engine."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from bfstats import config
from bfstats.errors import BfstatsError

FAILED_STATUSES = {"error", "fail", "skipped", "runtime error"}


class DbtError(RuntimeError, BfstatsError):
    """A dbt command failed; the message names the command and the failing nodes."""


@dataclass
class DbtOutcome:
    success: bool
    node_status: dict[str, str] = field(default_factory=dict)  # unique_id -> status
    messages: dict[str, str] = field(default_factory=dict)  # unique_id -> error message
    depends_on: dict[str, list[str]] = field(default_factory=dict)  # unique_id -> parents
    result: object = None

    def failed_nodes(self) -> set[str]:
        return {uid for uid, status in self.node_status.items() if status in FAILED_STATUSES}


def run(args: list[str], dbt_vars: dict | None = None) -> DbtOutcome:
    """Invoke `dbt <args>` against this project and profile; never raises for a failing node."""
    from dbt.cli.main import dbtRunner

    config.pin_engine_path()
    argv = [*args, "--project-dir", str(config.PROJECT_DIR)]
    argv += ["--profiles-dir", str(config.profiles_dir())]
    if dbt_vars:
        argv += ["--vars", json.dumps(dbt_vars)]
    if os.environ.get("BFSTATS_DBT_QUIET", "1") == "1":
        argv += ["--quiet"]
    outcome = dbtRunner().invoke(argv)
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


def run_operation(macro: str, macro_args: dict, dbt_vars: dict | None = None) -> DbtOutcome:
    outcome = run(["run-operation", macro, "--args", json.dumps(macro_args)], dbt_vars)
    if not outcome.success:
        detail = "; ".join(outcome.messages.values()) or "see logs/dbt.log"
        raise DbtError(f"dbt run-operation {macro} failed: {detail}")
    return outcome


def parse_manifest():
    """Parse the project and return dbt's Manifest object (no database needed)."""
    outcome = run(["parse"])
    if not outcome.success or outcome.result is None:
        detail = "; ".join(outcome.messages.values()) or "see logs/dbt.log"
        raise DbtError(f"dbt parse failed: {detail}")
    return outcome.result
