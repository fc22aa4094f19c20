"""dbt's adapter test suite (dbt-tests-adapter) against our `chdb` adapter.

dbt's fixtures (`project`, `adapter`, `unique_schema`, ...) write a throw-away dbt project per
test class, register the adapter from `dbt_profile_target` and create a fresh database for it.
The target is the embedded engine in this pytest process's own data directory (the one
tests/conftest.py sets in BFSTATS_CHDB_PATH): chdb hosts one engine per process, so every test
class shares it, each in its own database.
"""

from __future__ import annotations

import os

import pytest

# The fixtures must be importable by name from this conftest for pytest to register them.
from dbt.tests.fixtures.project import *  # noqa: F403


@pytest.fixture(scope="class")
def dbt_profile_target():
    return {"type": "chdb", "path": os.environ["BFSTATS_CHDB_PATH"], "threads": 1}


@pytest.fixture(scope="class")
def profile_user():
    return "default"  # the embedded engine's only user; dbt's default reads a `user` field


@pytest.fixture(scope="class")
def logs_dir(prefix, scratch_dir):
    """dbt's own fixture writes into <rootdir>/logs and then unsets DBT_LOG_PATH for good."""
    with pytest.MonkeyPatch.context() as patch:
        path = scratch_dir / "adapter-logs" / prefix
        patch.setenv("DBT_LOG_PATH", str(path))
        yield str(path)


@pytest.fixture(scope="class", autouse=True)
def own_target_path(project_root):
    """Artifacts of the throw-away projects stay in their folder, not in the bfstats project's
    target path (tests/conftest.py), whose partial-parse state they would overwrite."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_TARGET_PATH", str(project_root / "target"))
        yield
