"""The marts' own dbt data tests, as facts for the SQLite checks (bfstats.sqlite_checks).

`load()` reads them from the project's files: the model YAML under `model-paths`, the singular
tests under `test-paths`, the seeds under `seed-paths`. It parses no dbt project, so checking one
SQLite table never costs a dbt parse of the main project. `from_manifest()` reads the same facts
from a parsed dbt Manifest, for a caller that already holds one; tests/test_sqlite_checks.py
proves both agree on this project.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bfstats import config

# Keys of a generic test's entry that configure it rather than pass it an argument.
_CONFIG_KEYS = {"config", "name", "description", "severity", "where", "tags", "meta", "enabled"}
_REF = re.compile(r"""ref\(\s*['"]([^'"]+)['"]\s*\)""")


class MartTestError(ValueError):
    """A mart's test cannot be read; the message names the file and what to fix."""


@dataclass(frozen=True)
class MartTest:
    model: str  # the mart it belongs to (a singular test: the first mart it reads)
    name: str  # generic test (not_null, accepted_range...) or the singular test's file stem
    column: str | None  # the model column of a column test
    arguments: tuple[tuple[str, object], ...]  # sorted; lists become tuples, refs their name
    declared_in: str  # file, relative to the project, for messages
    sql: str | None = None  # a singular test's SQL, `{{ ref('x') }}` left in place
    reads: tuple[str, ...] = ()  # models and seeds a singular test or relationship reads
    where: str | None = None  # a `where` config: the test covers only those rows

    def argument(self, key: str, default=None):
        return dict(self.arguments).get(key, default)

    @property
    def is_singular(self) -> bool:
        return self.sql is not None


def _frozen(value):
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, str) and (match := _REF.fullmatch(value.strip())):
        return match.group(1)
    return value


def _arguments(raw: dict) -> tuple[tuple[str, object], ...]:
    return tuple(sorted((key, _frozen(value)) for key, value in raw.items()))


def _generic(
    model: str, column: str | None, entry, declared_in: str
) -> MartTest:  # one item of a `data_tests:` list
    if isinstance(entry, str):
        return MartTest(model, entry, column, (), declared_in)
    if not isinstance(entry, dict) or len(entry) != 1:
        raise MartTestError(
            f"{declared_in}: model {model} has a test entry dbt cannot read: {entry}"
        )
    ((name, body),) = entry.items()
    body = body or {}
    raw = dict(body.get("arguments") or {})
    raw.update(
        {key: value for key, value in body.items() if key not in {*_CONFIG_KEYS, "arguments"}}
    )
    where = body.get("where") or (body.get("config") or {}).get("where")
    column = raw.pop("column_name", column)
    reads = (_frozen(raw["to"]),) if "to" in raw else ()
    return MartTest(model, name, column, _arguments(raw), declared_in, reads=reads, where=where)


@functools.cache
def _project() -> dict:
    return yaml.safe_load((config.PROJECT_DIR / "dbt_project.yml").read_text())


def _paths(key: str, default: str) -> list[Path]:
    return [config.PROJECT_DIR / path for path in _project().get(key, [default])]


def load(models: Iterable[str]) -> list[MartTest]:
    """The data tests of `models` (mart names) and the singular tests that read only those."""
    wanted = set(models)
    tests: list[MartTest] = []
    for folder in _paths("model-paths", "models"):
        for path in sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")]):
            declared_in = str(path.relative_to(config.PROJECT_DIR))
            for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
                if model.get("name") not in wanted:
                    continue
                name = model["name"]
                for entry in model.get("data_tests") or model.get("tests") or []:
                    tests.append(_generic(name, None, entry, declared_in))
                for column in model.get("columns") or []:
                    for entry in column.get("data_tests") or column.get("tests") or []:
                        tests.append(_generic(name, column["name"], entry, declared_in))
    for folder in _paths("test-paths", "tests"):
        for path in sorted(folder.rglob("*.sql")):
            sql = path.read_text()
            reads = tuple(dict.fromkeys(_REF.findall(sql)))
            if reads and set(reads) & wanted:
                declared_in = str(path.relative_to(config.PROJECT_DIR))
                tests.append(
                    MartTest(reads[0], path.stem, None, (), declared_in, sql=sql, reads=reads)
                )
    return tests


def from_manifest(manifest, models: Iterable[str]) -> list[MartTest]:
    """The same facts as `load`, from a parsed dbt Manifest of the main project."""
    wanted = set(models)
    by_id = {**manifest.nodes}
    tests = []
    for node in manifest.nodes.values():
        if node.resource_type != "test":
            continue
        parents = [by_id[uid].name for uid in node.depends_on.nodes if uid in by_id]
        metadata = getattr(node, "test_metadata", None)
        if metadata is None:
            reads = tuple(dict.fromkeys(_REF.findall(node.raw_code)))
            if reads and set(reads) & wanted:
                tests.append(
                    MartTest(
                        reads[0],
                        node.name,
                        None,
                        (),
                        node.original_file_path,
                        sql=node.raw_code,
                        reads=reads,
                    )
                )
            continue
        attached = by_id.get(node.attached_node or "")
        if attached is None or attached.name not in wanted:
            continue
        raw = {k: v for k, v in metadata.kwargs.items() if k not in {"model", "column_name"}}
        reads = tuple(name for name in parents if name != attached.name)
        tests.append(
            MartTest(
                attached.name,
                metadata.name,
                node.column_name,
                _arguments(raw),
                node.original_file_path,
                reads=reads if "to" in raw else (),
                where=node.config.where,
            )
        )
    return sorted(tests, key=_order)


def _order(test: MartTest):
    return (test.declared_in, test.model, test.column or "", test.name, test.arguments)


def seed_values(seed: str, column: str) -> list[str] | None:
    """The values of `column` in seed `seed`'s CSV file, as text; None when there is no such
    seed (the name is then a model, not a list of values)."""
    for folder in _paths("seed-paths", "seeds"):
        path = folder / f"{seed}.csv"
        if path.is_file():
            with path.open(newline="") as handle:
                rows = list(csv.DictReader(handle))
            if rows and column not in rows[0]:
                raise MartTestError(f"seed {path} has no column {column!r}")
            return [row[column] for row in rows]
    return None
