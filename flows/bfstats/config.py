"""Where things are: the dbt project, the profile, the embedded engine's directory, the SQLite file.

Relative paths are taken from the project root (the folder with dbt_project.yml), whatever the
current directory, so the CLI, a served Prefect runner and `dbt` run from the repo root all agree.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(os.environ.get("BFSTATS_PROJECT_DIR", Path(__file__).resolve().parents[2]))
DEFAULT_SQLITE_PATH = "./data/bfstats.db"
DEFAULT_CHDB_PATH = "./data/clickhouse"
SQLITE_BUSY_TIMEOUT_ENV = "BFSTATS_SQLITE_BUSY_TIMEOUT"
DEFAULT_SQLITE_BUSY_TIMEOUT = 60.0
CLICKHOUSE_NICE_ENV = "BFSTATS_CLICKHOUSE_NICE"
DEFAULT_CLICKHOUSE_NICE = 10


def resolve(path: str | os.PathLike) -> Path:
    """A path from the user or the environment, relative paths against the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else (PROJECT_DIR / path).resolve()


def sqlite_path(override: str | os.PathLike | None = None) -> Path:
    return resolve(override or os.environ.get("BFSTATS_SQLITE_PATH") or DEFAULT_SQLITE_PATH)


def _number_setting(name: str, default, convert, valid, wanted: str):
    """The environment setting `name` (`default` when unset or blank) converted by `convert`;
    a value it cannot convert, or that `valid` refuses, is a usage error."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        from bfstats.errors import UsageError

        raise UsageError(f"{name}={text!r} is not {wanted}")
    return value


def sqlite_busy_timeout() -> float:
    """Seconds a write waits for another connection's lock on the SQLite file before failing."""
    return _number_setting(
        SQLITE_BUSY_TIMEOUT_ENV,
        DEFAULT_SQLITE_BUSY_TIMEOUT,
        float,
        lambda seconds: 0 <= seconds < float("inf"),
        "a number of seconds (0 or more); unset it for the default of "
        f"{DEFAULT_SQLITE_BUSY_TIMEOUT:g}",
    )


def clickhouse_nice() -> int:
    """The nice value of the embedded engine's threads (bfstats.engine_priority); 0: as the
    Python threads."""
    return _number_setting(
        CLICKHOUSE_NICE_ENV,
        DEFAULT_CLICKHOUSE_NICE,
        int,
        lambda nice: 0 <= nice <= 19,
        "a nice value from 0 to 19; 0 leaves the embedded ClickHouse threads at the Python "
        f"threads' priority, unset it for {DEFAULT_CLICKHOUSE_NICE}",
    )


def chdb_path() -> Path:
    return resolve(os.environ.get("BFSTATS_CHDB_PATH") or DEFAULT_CHDB_PATH)


def profiles_dir() -> Path:
    """The folder that holds profiles.yml; created from profiles.yml.example when missing."""
    configured = os.environ.get("DBT_PROFILES_DIR")
    if configured:
        return resolve(configured)
    profile = PROJECT_DIR / "profiles.yml"
    if not profile.exists():
        shutil.copyfile(PROJECT_DIR / "profiles.yml.example", profile)
    return PROJECT_DIR


def min_row_fraction() -> float:
    """A table may not be replaced by one with fewer than this fraction of its rows
    (`BFSTATS_MIN_ROW_FRACTION`, default 0.5) unless the run allows it to shrink."""
    text = os.environ.get("BFSTATS_MIN_ROW_FRACTION", "0.5")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        from bfstats.errors import UsageError

        raise UsageError(f"BFSTATS_MIN_ROW_FRACTION is {text!r}; give a number from 0 to 1")
    return value


def dbt_vars() -> dict:
    """The dbt vars of every invocation of this configuration (`as_of` is added per run)."""
    database = os.environ.get("BFSTATS_SOURCE_DATABASE")
    return {"source_database": database} if database else {}


def pin_engine_path() -> None:
    """Give dbt the absolute engine directory, so the profile's `./data/clickhouse` means the same
    folder for this process and for dbt, whatever the working directory."""
    os.environ["BFSTATS_CHDB_PATH"] = str(chdb_path())


@dataclass(frozen=True)
class Target:
    """The ClickHouse the profile points at. For a server, `credentials` is dbt's own credentials
    object of the profile (dbt-clickhouse's ClickHouseCredentials), the one dbt connects with: the
    extractor builds its client from it too. It holds the password, so it stays out of `repr`,
    comparisons and `describe()`; never print it."""

    name: str
    kind: str  # "chdb" (embedded) or "clickhouse" (server over HTTP)
    database: str  # where the models are materialized
    path: str | None = None
    credentials: Any = field(default=None, repr=False, compare=False)

    @property
    def host(self) -> str | None:
        return self.credentials.host if self.kind == "clickhouse" else None

    @property
    def port(self) -> int | None:
        if self.kind != "clickhouse":
            return None
        # dbt-clickhouse's default for the HTTP driver (dbclient.get_db_client)
        return self.credentials.port or (8443 if self.secure else 8123)

    @property
    def user(self) -> str | None:
        return self.credentials.user if self.kind == "clickhouse" else None

    @property
    def secure(self) -> bool:
        return bool(self.kind == "clickhouse" and self.credentials.secure)

    @property
    def cluster(self) -> str | None:
        return (self.credentials.cluster or None) if self.kind == "clickhouse" else None

    @property
    def url(self) -> str | None:
        """http(s)://host:port of a server (no user, no password)."""
        if self.kind != "clickhouse":
            return None
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"

    def describe(self) -> str:
        if self.kind == "chdb":
            return f"embedded ClickHouse at {self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        return (
            f"ClickHouse {scheme}://{self.user}@{self.host}:{self.port} (database {self.database})"
        )


def load_target(target_override: str | None = None) -> Target:
    """The profile `bfstats` as dbt reads it (its renderer, env_var and all, its credentials
    class)."""
    from argparse import Namespace

    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import get_flags, set_from_args
    from dbt_common.context import set_invocation_context

    pin_engine_path()
    if get_flags() is None or not hasattr(get_flags(), "PROFILES_DIR"):
        set_from_args(Namespace(), None)
    set_invocation_context(os.environ)
    raw = read_profile(str(profiles_dir()))
    profile = Profile.from_raw_profiles(raw, "bfstats", ProfileRenderer({}), target_override)
    creds = profile.credentials
    if creds.type == "chdb":
        return Target(profile.target_name, "chdb", creds.schema, path=str(resolve(creds.path)))
    return Target(profile.target_name, "clickhouse", creds.schema, credentials=creds)
