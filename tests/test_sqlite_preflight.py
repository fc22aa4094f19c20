"""Pre-flight of the target file: it creates nothing, and it refuses for real what SQLite would
fail on later - a read-only filesystem, an immutable or append-only file or folder, a folder
that cannot be created, a file that is not a database. Root passes permission checks, so these
are made with mounts and inode flags (tests/mounts.py), which bind root too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from bfstats import cli
from bfstats.errors import UsageError
from bfstats.sqlite_store import SqliteTargetError, connect, preflight
from mounts import inode_flag, remount, tmpfs
from support import bfstats, isolated_env


def database(path):
    conn = connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()  # the last connection removes -wal and -shm
    assert not path.with_name(path.name + "-wal").exists()
    return path


def listing(folder) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def test_a_new_file_in_a_new_folder_passes_and_nothing_is_created(tmp_path):
    target = tmp_path / "new" / "deeper" / "bfstats.db"
    assert preflight(target) == target
    assert listing(tmp_path) == []


def test_an_existing_database_and_an_empty_file_pass(tmp_path):
    db = database(tmp_path / "api.db")
    before = listing(tmp_path)
    preflight(db)
    empty = tmp_path / "empty.db"
    empty.touch()
    preflight(empty)  # SQLite makes a new database of an empty file
    assert listing(tmp_path) == sorted([*before, "empty.db"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_text("name,score\nalice,3\n"), "is not a SQLite database"),
    ],
    ids=["directory", "text-file"],
)
def test_what_is_not_a_database_file_is_refused(tmp_path, make, message):
    target = tmp_path / "target.db"
    make(target)
    with pytest.raises(SqliteTargetError, match=message) as raised:
        preflight(target)
    assert str(target) in str(raised.value)


def test_a_folder_that_cannot_be_created_is_refused(tmp_path):
    with pytest.raises(SqliteTargetError) as raised:
        preflight("/proc/no/such/dir/x.db")
    message = str(raised.value)
    assert "cannot create the folder /proc/no/such/dir" in message
    assert "virtual filesystem (proc" in message
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SqliteTargetError, match="is a file, not a folder"):
        preflight(blocker / "sub" / "x.db")


def test_a_bad_busy_timeout_setting_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BFSTATS_SQLITE_BUSY_TIMEOUT", "a minute")
    with pytest.raises(UsageError, match="BFSTATS_SQLITE_BUSY_TIMEOUT='a minute'"):
        preflight(tmp_path / "x.db")


def test_a_read_only_filesystem_is_refused(tmp_path):
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        db = database(mnt / "api.db")
        remount(mnt, "ro")
        try:
            with pytest.raises(SqliteTargetError) as raised:
                preflight(db)
            message = str(raised.value)
            assert f"SQLite database {db} is not writable" in message
            assert "read-only filesystem (mounted at" in message and str(mnt) in message
            with pytest.raises(SqliteTargetError, match="cannot create the folder"):
                preflight(mnt / "new" / "x.db")
            with pytest.raises(SqliteTargetError, match="read-only filesystem"):
                preflight(mnt / "new.db")
        finally:
            remount(mnt, "rw")


def test_an_immutable_or_append_only_file_is_refused(tmp_path):
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        db = database(mnt / "api.db")
        with inode_flag(db, "i"), pytest.raises(SqliteTargetError) as raised:
            preflight(db)
        assert f"SQLite database {db} is immutable" in str(raised.value)
        assert f"chattr -i {db}" in str(raised.value)
        with inode_flag(db, "a"), pytest.raises(SqliteTargetError, match="append-only"):
            preflight(db)
        wal = mnt / "api.db-wal"
        wal.write_bytes(b"")
        with inode_flag(wal, "i"), pytest.raises(SqliteTargetError, match="-wal file of"):
            preflight(db)
        wal.unlink()
        with inode_flag(mnt, "i"), pytest.raises(SqliteTargetError) as raised:
            preflight(db)
        assert "cannot write beside SQLite database" in str(raised.value)
        assert "-wal" in str(raised.value) and "immutable" in str(raised.value)
        preflight(db)


def test_a_file_the_user_may_not_write_is_refused(request):
    # Permission bits bind only a user other than root: run the check as `nobody`.
    if os.geteuid() != 0:
        pytest.skip("needs root to run a child as another user")
    # pytest's own temporary folders are private to root: a folder `nobody` can reach.
    folder = Path(tempfile.mkdtemp(prefix="bfstats-preflight-"))
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    os.chmod(folder, 0o755)
    db = database(folder / "api.db")
    os.chmod(db, 0o644)
    script = (
        "import sys\n"
        "from bfstats.sqlite_store import preflight, SqliteTargetError\n"
        "try:\n"
        "    preflight(sys.argv[1])\n"
        "except SqliteTargetError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable]
        + ["-c", script, str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot run the check as nobody here: {result.stderr.strip()[-300:]}")
    assert f"SQLite database {db} is not writable" in result.stdout
    assert "not writable by this user" in result.stdout


@contextmanager
def read_only(db, how: str):
    """The file made read-only for root too: its filesystem remounted read-only, or the file
    immutable (its folder stays writable: SQLite could leave -wal/-shm there)."""
    if how == "read-only-mount":
        remount(db.parent, "ro")
        try:
            yield
        finally:
            remount(db.parent, "rw")
    else:
        with inode_flag(db, "i"):
            yield


@pytest.mark.slow
@pytest.mark.parametrize("how", ["read-only-mount", "immutable-file"])
def test_backfill_into_a_read_only_file_exits_2_at_once_and_leaves_nothing(tmp_path, how):
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        db = database(mnt / "api.db")
        env = isolated_env(tmp_path / "work")
        with read_only(db, how):
            started = time.monotonic()
            result = bfstats("backfill", "all", "--sqlite", str(db), env=env, timeout=300)
            seconds = time.monotonic() - started
        assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
        assert f"bfstats: error: SQLite database {db} is " in result.stderr
        assert ("read-only filesystem" if how == "read-only-mount" else "immutable") in (
            result.stderr
        )
        assert "Traceback" not in result.stderr
        assert listing(mnt) == ["api.db"]  # no -wal / -shm
        # Refused up front: no dbt (its target folder), no Prefect server (its log lines).
        assert not (tmp_path / "work" / "target").exists()
        assert "temporary server" not in result.stdout + result.stderr
        # Today the refusal needs only Python and the Prefect import, a few seconds; failing
        # after dbt and the busy timeout took 30 s and more. A generous bound tells them apart.
        assert seconds < 20, f"took {seconds:.1f}s"


@pytest.mark.slow
def test_a_usage_error_creates_no_file(tmp_path, capsys):
    target = tmp_path / "new" / "new.db"
    assert cli.main(["backfill", "no-such-service", "--sqlite", str(target)]) == 2
    assert "unknown service 'no-such-service'" in capsys.readouterr().err
    assert listing(tmp_path) == []
