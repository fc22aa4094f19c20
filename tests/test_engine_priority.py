"""The embedded ClickHouse engine's threads run at a higher nice value than the Python threads
(bfstats.engine_priority), so the SQLite loads keep their core while marts build.

Each check runs in a process of its own, on a real embedded engine: it renices threads, and
it must not touch the threads of the test process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from bfstats import config
from bfstats.errors import UsageError

# Threads of ClickHouse's pools, made by a query on two threads.
_BUSY_ENGINE = """
import chdb
engine = chdb.connect(":memory:")
engine.query("SELECT sum(number) FROM numbers_mt(20000000) SETTINGS max_threads = 2", "CSV")
"""

_REPORT = """
import json, os, threading
from bfstats import engine_priority

def threads():
    python = {t.native_id for t in threading.enumerate()}
    found = []
    for task in os.listdir("/proc/self/task"):
        stat = engine_priority._stat(engine_priority._TASKS / task)
        if stat:
            found.append({"tid": int(task), "name": stat[0], "nice": stat[1],
                          "python": int(task) in python})
    return found
"""


def run_python(script: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_the_engine_threads_are_lowered_and_the_python_threads_are_not():
    report = run_python(
        _BUSY_ENGINE
        + _REPORT
        + """
waiting = threading.Event()
helper = threading.Thread(target=waiting.wait)  # a Python thread besides the main one
helper.start()
before = threads()
changed = engine_priority.lower_engine_threads(7)
after = threads()
again = engine_priority.lower_engine_threads(7)
waiting.set()
print(json.dumps({"before": before, "after": after, "changed": changed, "again": again,
                  "pid": os.getpid()}))
"""
    )
    engine_before = [t for t in report["before"] if not t["python"]]
    engine_after = [t for t in report["after"] if not t["python"]]
    python_after = [t for t in report["after"] if t["python"]]
    assert engine_before, "the query started no engine thread"
    assert all(t["nice"] < 7 for t in engine_before)
    assert report["changed"] == len(engine_before)
    # Every thread that is not Python's, ClickHouse's pools among them, now at 7.
    assert {t["nice"] for t in engine_after} == {7}
    assert any(t["name"] in ("ThreadPool", "QueryPipelineEx") for t in engine_after)
    # chdb's query thread keeps the process's name and does much of a query's work.
    (process_name,) = {t["name"] for t in python_after if t["tid"] == report["pid"]}
    assert any(t["name"] == process_name for t in engine_after)
    # The main thread and the helper keep their priority, the SQLite loads' threads with them.
    assert len(python_after) >= 2
    assert {t["nice"] for t in python_after} == {0}
    assert report["again"] == 0  # nothing left to change


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_threads_the_engine_starts_later_are_lowered_by_the_watcher():
    report = run_python(
        _REPORT
        + """
import time
started = engine_priority.keep_engine_threads_low(5)
second = engine_priority.keep_engine_threads_low(5)
"""
        + _BUSY_ENGINE
        + """
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    engine = [t for t in threads() if not t["python"]]
    if engine and all(t["nice"] == 5 for t in engine):
        break
    time.sleep(0.1)
watchers = [t.name for t in threading.enumerate() if t.name == "clickhouse-nice"]
print(json.dumps({"started": started, "second": second, "threads": threads(),
                  "watchers": watchers}))
"""
    )
    assert report["started"] and report["second"]
    assert report["watchers"] == ["clickhouse-nice"]  # one per process
    engine = [t for t in report["threads"] if not t["python"]]
    assert engine and {t["nice"] for t in engine} == {5}, engine
    assert {t["nice"] for t in report["threads"] if t["python"]} == {0}


def test_nice_zero_starts_no_watcher():
    report = run_python(
        """
import json, threading
from bfstats import engine_priority
started = engine_priority.keep_engine_threads_low(0)
print(json.dumps({"started": started,
                  "names": [t.name for t in threading.enumerate()]}))
"""
    )
    assert report["started"] is False
    assert "clickhouse-nice" not in report["names"]


@pytest.mark.parametrize(("text", "nice"), [(None, 10), ("", 10), ("0", 0), (" 19 ", 19), ("3", 3)])
def test_the_nice_value_comes_from_the_environment(monkeypatch, text, nice):
    if text is None:
        monkeypatch.delenv(config.CLICKHOUSE_NICE_ENV, raising=False)
    else:
        monkeypatch.setenv(config.CLICKHOUSE_NICE_ENV, text)
    assert config.clickhouse_nice() == nice


@pytest.mark.parametrize("text", ["20", "-1", "low", "2.5"])
def test_a_bad_nice_value_is_a_usage_error(monkeypatch, text):
    monkeypatch.setenv(config.CLICKHOUSE_NICE_ENV, text)
    with pytest.raises(UsageError, match=f"BFSTATS_CLICKHOUSE_NICE='{text}' is not a nice value"):
        config.clickhouse_nice()
