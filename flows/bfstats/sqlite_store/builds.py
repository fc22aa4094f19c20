"""The marts built in ClickHouse (`_bfstats_builds`, one row per model): which run built each,
for which `as_of`, from what (`fingerprint`), and whether its dbt tests passed - so that a resumed
run can reuse a mart instead of building it again."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from bfstats.sqlite_store.basics import BUILDS, table_exists, utc_now


@dataclass(frozen=True)
class Build:
    model: str
    run_id: str
    as_of: str
    fingerprint: dict
    built_at: str
    tested_at: str | None

    @property
    def tested(self) -> bool:
        return self.tested_at is not None


def fingerprint_text(fingerprint: dict) -> str:
    """The stored form: canonical JSON, so equal fingerprints are equal text."""
    return json.dumps(fingerprint, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Builds:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def get(self, model: str) -> Build | None:
        if not table_exists(self.conn, BUILDS):
            return None
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        row = cursor.execute(
            "SELECT model, run_id, as_of, fingerprint, built_at, tested_at "
            "FROM _bfstats_builds WHERE model = ?",
            (model,),
        ).fetchone()
        if row is None:
            return None
        return Build(
            model=row["model"],
            run_id=row["run_id"],
            as_of=row["as_of"],
            fingerprint=json.loads(row["fingerprint"]),
            built_at=row["built_at"],
            tested_at=row["tested_at"],
        )

    def record(self, model: str, *, run_id: str, as_of: str, fingerprint: dict) -> None:
        """The mart was (re)built: replaces any earlier record; not tested yet."""
        self.conn.execute(
            "INSERT OR REPLACE INTO _bfstats_builds "
            "(model, run_id, as_of, fingerprint, built_at, tested_at) VALUES (?, ?, ?, ?, ?, NULL)",
            (model, run_id, as_of, fingerprint_text(fingerprint), utc_now()),
        )

    def mark_tested(self, model: str) -> None:
        self.conn.execute(
            "UPDATE _bfstats_builds SET tested_at = ? WHERE model = ?", (utc_now(), model)
        )

    def discard(self, model: str) -> None:
        self.conn.execute("DELETE FROM _bfstats_builds WHERE model = ?", (model,))

    def reusable(self, model: str, *, as_of: str, fingerprint: dict) -> Build | None:
        """The recorded build when it is for this `as_of` and fingerprint and was tested."""
        build = self.get(model)
        if build is None or not build.tested or build.as_of != as_of:
            return None
        if fingerprint_text(build.fingerprint) != fingerprint_text(fingerprint):
            return None
        return build
