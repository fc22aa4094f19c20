"""Real filesystem conditions for tests: a small tmpfs (to fill up), a read-only mount, immutable
files. Root bypasses permission bits, so "read-only" is made with a mount or an inode flag, which
bind root too. Mounting needs root (CAP_SYS_ADMIN); tests skip with the reason where the machine
cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (mount's syntax: 4m, 512k) mounted at `where` for the block."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); this machine/user cannot")
    where.mkdir(parents=True, exist_ok=True)
    mounted = _run(
        "mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "bfstats-test", str(where)
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        _run("umount", "-l", str(where))


def remount(where: Path, options: str) -> None:
    """`mount -o remount,<options>` (e.g. `ro`, `rw`, `size=64m`)."""
    result = _run("mount", "-o", f"remount,{options}", str(where))
    assert result.returncode == 0, f"remount {options} of {where}: {result.stderr}"


@contextmanager
def inode_flag(path: Path, flag: str) -> Iterator[Path]:
    """`chattr +<flag>` on `path` for the block (i: immutable, a: append-only)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    result = _run("chattr", f"+{flag}", str(path))
    if result.returncode != 0:
        pytest.skip(f"chattr +{flag} is not supported here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        _run("chattr", f"-{flag}", str(path))
