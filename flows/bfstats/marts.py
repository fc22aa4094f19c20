"""The ClickHouse side of a run: which dbt nodes build and test the marts a run loads.

The plan comes from the parsed dbt manifest, so it follows the project as it is:
- the marts to build, in the DAG's order: every table the run loads plus the materialized models
  they read (e.g. `server_online_counts` for the pattern marts), and the seeds they need;
- for each mart, the data tests to run once it is built: a test runs with the last of its marts
  to be built, and only when every mart it reads is built by this run (a test that also reads a
  mart of a service not in this run would read a table of another `as_of`, or none).

Building is one `dbt run` per mart and testing one `dbt test` per mart, so the flow can load a
mart into SQLite while ClickHouse builds the next one and runs the tests of this one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bfstats import config, dbt_invoke
from bfstats.catalog import TableSpec


@dataclass(frozen=True)
class Mart:
    model: str  # dbt model name
    unique_id: str
    tests: tuple[str, ...] = ()  # names of the dbt tests to run once it is built
    upstream: tuple[str, ...] = ()  # models of the marts it reads (built before it)


@dataclass(frozen=True)
class BuildPlan:
    seeds: tuple[str, ...]  # seed names to load (with their own tests) before any mart
    seed_ids: tuple[str, ...]
    seed_tests: tuple[str, ...]
    marts: tuple[Mart, ...]  # in build order: the tables given, each after what it reads

    def mart(self, model: str) -> Mart:
        for mart in self.marts:
            if mart.model == model:
                return mart
        raise KeyError(model)


def parents(node) -> list[str]:
    """The unique ids a manifest node depends on (sources included)."""
    return list(getattr(node.depends_on, "nodes", None) or [])  # a seed depends on macros only


def lineage(nodes: dict, unique_ids: list[str]) -> set[str]:
    """`unique_ids` and every node of `nodes` upstream of them."""
    seen, frontier = set(unique_ids), list(unique_ids)
    while frontier:
        for parent in parents(nodes[frontier.pop()]):
            if parent in nodes and parent not in seen:
                seen.add(parent)
                frontier.append(parent)
    return seen


def source_ids(manifest, unique_ids: list[str]) -> list[str]:
    """The dbt sources (raw tables) the nodes read, directly or through other models."""
    found = set()
    for uid in lineage(manifest.nodes, unique_ids):
        found.update(p for p in parents(manifest.nodes[uid]) if p in manifest.sources)
    return sorted(found)


def _ancestors(nodes: dict, unique_id: str) -> set[str]:
    return lineage(nodes, [unique_id]) - {unique_id}


def _materialized(node) -> bool:
    return node.resource_type == "model" and node.config.materialized != "ephemeral"


def plan_builds(manifest, tables: list[TableSpec]) -> BuildPlan:
    """What to build and test in ClickHouse for `tables` (the tables the run loads)."""
    nodes = {**manifest.nodes}
    wanted: set[str] = set()
    for table in tables:
        wanted.add(table.unique_id)
        wanted.update(a for a in _ancestors(nodes, table.unique_id) if _materialized(nodes[a]))
    seeds = sorted(
        {a for uid in wanted for a in _ancestors(nodes, uid) if nodes[a].resource_type == "seed"}
    )
    order = _build_order(nodes, wanted, [table.unique_id for table in tables])
    position = {uid: i for i, uid in enumerate(order)}
    built = set(order) | set(seeds)
    tests_of: dict[str, list[str]] = {uid: [] for uid in order}
    seed_tests: list[str] = []
    for _, node in sorted(nodes.items()):
        if node.resource_type != "test":
            continue
        inputs = [p for p in parents(node) if p in nodes]
        if not inputs or not set(inputs) <= built:
            continue
        marts = [p for p in inputs if p in position]
        if marts:
            tests_of[max(marts, key=position.__getitem__)].append(node.name)
        else:
            seed_tests.append(node.name)
    marts = tuple(
        Mart(
            model=nodes[uid].name,
            unique_id=uid,
            tests=tuple(tests_of[uid]),
            upstream=tuple(
                nodes[a].name for a in order if a in _ancestors(nodes, uid) and a != uid
            ),
        )
        for uid in order
    )
    return BuildPlan(
        seeds=tuple(nodes[s].name for s in seeds),
        seed_ids=tuple(seeds),
        seed_tests=tuple(seed_tests),
        marts=marts,
    )


def _build_order(nodes: dict, wanted: set[str], first: list[str]) -> list[str]:
    """The marts in the order of `first` (the tables' load order), each after the marts it
    reads: the dbt lane builds what the SQLite lane will load next."""
    order: list[str] = []
    done: set[str] = set()

    def visit(uid: str) -> None:
        if uid in done:
            return
        done.add(uid)
        for parent in sorted(_ancestors(nodes, uid)):
            if parent in wanted:
                visit(parent)
        order.append(uid)

    for uid in [*first, *sorted(wanted)]:
        visit(uid)
    return order


def dbt_vars(as_of: str) -> dict:
    return {**config.dbt_vars(), "as_of": as_of}


def build_seeds(plan: BuildPlan, as_of: str, target=None) -> dbt_invoke.DbtOutcome | None:
    """Load the seeds the marts need, with their own tests (`dbt build` of the seeds)."""
    if not plan.seeds:
        return None
    # cautious: tests that also read a mart (relationships to a seed) run with that mart.
    outcome = dbt_invoke.run(
        ["build", "--select", *plan.seeds, "--indirect-selection", "cautious"], dbt_vars(as_of)
    )
    _raise_on_failure(outcome, f"dbt could not load the seeds {', '.join(plan.seeds)}", target)
    return outcome


def build(mart: Mart, as_of: str, target=None, part=None) -> dbt_invoke.DbtOutcome:
    """Materialize one mart in ClickHouse for `as_of` (`dbt run --select <model>`); `part`
    (a build_parts.Part): only that range of it, replacing the table (the first) or appended."""
    variables = dbt_vars(as_of)
    what = f"dbt could not build the mart {mart.model}"
    if part is not None:
        variables["build_part"] = part.var()
        what += f" (its part {part.lower!r} <= value < {part.upper!r})"
    outcome = dbt_invoke.run(["run", "--select", mart.model], variables)
    _raise_on_failure(outcome, what, target)
    return outcome


def test(mart: Mart, as_of: str, target=None) -> dbt_invoke.DbtOutcome | None:
    """Run the mart's data tests in ClickHouse (None: it has none)."""
    if not mart.tests:
        return None
    outcome = dbt_invoke.run(["test", "--select", *mart.tests], dbt_vars(as_of))
    _raise_on_failure(outcome, f"dbt tests of the mart {mart.model} failed", target, DataTestFailed)
    return outcome


class DataTestFailed(dbt_invoke.DbtError):
    kind = "ClickHouse data tests failed"


def _raise_on_failure(
    outcome: dbt_invoke.DbtOutcome, what: str, target=None, error=dbt_invoke.DbtError
) -> None:
    """One message for the step: each failed node once, and a ClickHouse server's failures as
    one line each (not urllib3's retry text)."""
    if outcome.success:
        return
    problems = outcome.problems() or ["see logs/dbt.log"]
    if target is not None and target.kind != "chdb":
        from bfstats.clickhouse_source import shorten_dbt_error

        problems = list(dict.fromkeys(shorten_dbt_error(p, target) for p in problems))
    raise error(f"{what}: " + "; ".join(problems))
