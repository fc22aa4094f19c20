"""Run dbt in this process (dbtRunner), so dbt and the extractor share one embedded engine."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from bfstats import config


class DbtError(RuntimeError):
    """A dbt command failed; the message names the command and the failing nodes."""


@dataclass
class DbtOutcome:
    success: bool
    node_status: dict[str, str] = field(default_factory=dict)  # unique_id -> status
    messages: dict[str, str] = field(default_factory=dict)  # unique_id -> error message
    result: object = None


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
    node_status, messages = {}, {}
    results = getattr(outcome.result, "results", None) or []
    for item in results:
        unique_id = getattr(getattr(item, "node", None), "unique_id", None)
        if unique_id is None:
            continue
        node_status[unique_id] = str(item.status)
        if item.message and str(item.status) in {"error", "fail", "skipped", "runtime error"}:
            messages[unique_id] = str(item.message)
    if outcome.exception is not None:
        messages["dbt"] = f"dbt {' '.join(args)} failed: {outcome.exception}"
    return DbtOutcome(outcome.success, node_status, messages, outcome.result)


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
