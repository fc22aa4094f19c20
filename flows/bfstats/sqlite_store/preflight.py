"""Check, before anything runs and without creating anything, that the target file can be used.

- the path is not a folder; its folder exists, or the nearest existing ancestor is a folder in
  which it can be created (not on a read-only or virtual filesystem, writable);
- an existing file is a SQLite database (or empty), writable, not immutable or append-only, and
  so are its `-wal` / `-shm` / `-journal` files when they exist;
- the folder is writable: WAL mode creates `-wal` and `-shm` files beside the database;
- BFSTATS_SQLITE_BUSY_TIMEOUT, when set, is a number of seconds.

Permission bits alone do not answer "writable" for root, who bypasses them: `access(2)` still
reports a read-only filesystem (EROFS) and an immutable file (EPERM), and the filesystem type
(from /proc/self/mountinfo) tells a virtual one such as /proc, where root "may write" but
nothing can be created. Errors name the path and what to do.

Call it before this process opens the file with SQLite: it reads the file's header through a
descriptor of its own, and closing any descriptor of a database drops the POSIX locks SQLite
holds on it in the same process.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
from pathlib import Path

from bfstats import config
from bfstats.sqlite_store.errors import SqliteTargetError

SQLITE_HEADER = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm", "-journal")
ADVICE = "pass another --sqlite path or set BFSTATS_SQLITE_PATH"
# linux/fs.h
_FS_IOC_GETFLAGS = 0x80086601
_FS_IMMUTABLE_FL = 0x00000010
_FS_APPEND_FL = 0x00000020
# Filesystems without storage: root passes access(2) there, yet no file can be created.
_VIRTUAL_FILESYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "securityfs",
        "configfs",
        "pstore",
        "bpf",
        "mqueue",
        "fusectl",
        "binfmt_misc",
        "efivarfs",
        "selinuxfs",
        "nsfs",
        "autofs",
    }
)


def preflight(path: str | os.PathLike) -> Path:
    """Raise SqliteTargetError when the target file cannot be used (UsageError for a bad
    BFSTATS_SQLITE_BUSY_TIMEOUT); creates nothing."""
    config.sqlite_busy_timeout()
    path = Path(path)
    if path.is_dir():
        raise SqliteTargetError(f"SQLite path {path} is a directory; pass the path of a file")
    folder = path.parent
    if not folder.exists():
        _check_can_create(folder, path)
        return path
    if not folder.is_dir():
        raise SqliteTargetError(
            f"cannot use SQLite database {path}: {folder} is a file, not a folder; {ADVICE}"
        )
    if path.exists():
        _check_database_file(path)
        for suffix in SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                _check_writable_file(side, f"SQLite's {suffix} file of {path}")
    reason = _not_writable(folder, directory=True)
    if reason:
        raise SqliteTargetError(
            f"cannot write beside SQLite database {path}: {reason}. SQLite needs its folder "
            f"writable (it creates {path.name}-wal and {path.name}-shm there); {ADVICE}"
        )
    return path


def _check_can_create(folder: Path, path: Path) -> None:
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SqliteTargetError(
            f"cannot create the folder {folder} of SQLite database {path}: {ancestor} is a file, "
            f"not a folder; {ADVICE}"
        )
    reason = _not_writable(ancestor, directory=True)
    if reason:
        raise SqliteTargetError(
            f"cannot create the folder {folder} of SQLite database {path}: {reason}; {ADVICE}"
        )


def _check_database_file(path: Path) -> None:
    if not path.is_file():
        raise SqliteTargetError(f"SQLite path {path} is not a regular file; {ADVICE}")
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise SqliteTargetError(
            f"cannot read SQLite database {path}: {error.strerror}; check its permissions or "
            f"{ADVICE}"
        ) from None
    if header and header != SQLITE_HEADER:
        raise SqliteTargetError(
            f"{path} is not a SQLite database (it does not start with the SQLite header); {ADVICE}"
        )
    _check_writable_file(path, f"SQLite database {path}")


def _check_writable_file(path: Path, name: str) -> None:
    flags = _inode_flags(path)
    if flags & _FS_IMMUTABLE_FL:
        raise SqliteTargetError(
            f"{name} is immutable (chattr +i): nothing can write it. Remove the flag with "
            f"`chattr -i {path}` (as root) or {ADVICE}"
        )
    if flags & _FS_APPEND_FL:
        raise SqliteTargetError(
            f"{name} is append-only (chattr +a): SQLite cannot update it. Remove the flag with "
            f"`chattr -a {path}` (as root) or {ADVICE}"
        )
    reason = _not_writable(path, directory=False)
    if reason:
        raise SqliteTargetError(f"{name} is not writable: {reason}; {ADVICE}")


def _not_writable(path: Path, *, directory: bool) -> str | None:
    """Why this process cannot write `path` (create files in it, for a folder), or None."""
    fstype, mount_point = _mount_of(path)
    if fstype in _VIRTUAL_FILESYSTEMS:
        return (
            f"{path} is on a virtual filesystem ({fstype}, mounted at {mount_point}) that "
            "cannot hold files"
        )
    mode = os.W_OK | (os.X_OK if directory else 0)
    if os.access(path, mode):
        return None
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        where = f" (mounted at {mount_point})" if mount_point else ""
        return (
            f"{path} is on a read-only filesystem{where}; remount it read-write or copy the "
            "file to a writable place"
        )
    if directory and _inode_flags(path) & _FS_IMMUTABLE_FL:
        return f"the folder {path} is immutable (chattr +i; `chattr -i {path}` as root removes it)"
    return (
        f"{path} is not writable by this user (uid {os.getuid()}); change its owner or permissions"
    )


def _inode_flags(path: Path) -> int:
    """The file's inode flags (lsattr); 0 when the filesystem has none or they cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        result = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("i", 0))
        return struct.unpack("i", result)[0]
    except OSError:
        return 0
    finally:
        os.close(fd)


def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal (`\\040`)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _mount_of(path: Path) -> tuple[str | None, str | None]:
    """(filesystem type, mount point) of the mount holding `path`, from /proc/self/mountinfo;
    (None, None) where that file does not exist (not Linux)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None, None
    target = os.path.realpath(path)
    best: tuple[str | None, str | None] = (None, None)
    best_length = -1
    for line in lines:
        head, _, tail = line.partition(" - ")
        parts, tail_parts = head.split(), tail.split()
        if len(parts) < 5 or not tail_parts:
            continue
        mount_point = _unescape(parts[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        # Later lines are mounts stacked over earlier ones at the same place: they win.
        if inside and len(mount_point) >= best_length:
            best, best_length = (tail_parts[0], mount_point), len(mount_point)
    return best
