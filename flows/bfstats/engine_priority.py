"""The embedded ClickHouse engine's threads yield the CPU to this process's Python threads.

On the embedded engine, the ClickHouse builds and the SQLite loads share the machine's cores.
The loads are a backfill's critical path: one writer per SQLite file, each table after the
other. The builds are not: they run ahead of the loads. Left at the same priority, the builds
take both cores and slow the load that waits on them. At scale 1 on 2 cores, ServerOnlineCounts
then staged in 28 s during the player builds, against 16 s alone. So the engine's threads run at
a higher nice value (`BFSTATS_CLICKHOUSE_NICE`, default 10; 0 leaves them alone). They still
take every core the Python side leaves idle. Figures: README, "Tests, CI and benchmarks".

How:
- Linux keeps a nice value per thread, and any user may raise the value of its own threads.
  ClickHouse's own `os_thread_priority` setting needs CAP_SYS_NICE, because it lowers the value
  again after each query; nothing here ever lowers one.
- The engine's threads are the threads of this process that Python's registry of threads does
  not hold: ClickHouse's pools ("ThreadPool", "QueryPipelineEx", ...) and chdb's query thread,
  which keeps the process's name and does much of a query's work. (Any other library's native
  threads are lowered too; none of them is on the critical path.) A Python thread that is
  starting is in the registry before its thread id is: while one is, threads with the process's
  name wait for the next look.
- ClickHouse starts threads as its pools grow. A thread started by a niced thread inherits its
  nice value, but one started from a Python thread does not, so a daemon thread looks again
  every `RESCAN_SECONDS`.

Elsewhere than Linux there is no /proc/self/task, and this does nothing. Against a ClickHouse
server the builds run on the server, and the flow does not call it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

RESCAN_SECONDS = 0.5
_TASKS = Path("/proc/self/task")

_watching = False  # the watcher runs in this process (one per process)
_start_lock = threading.Lock()


def _stat(task: Path) -> tuple[str, int] | None:
    """A thread's name and nice value, or None when it has ended."""
    try:
        text = (task / "stat").read_text()
    except OSError:
        return None
    # The name sits in parentheses and may itself hold spaces or parentheses.
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[16])  # field 19 of proc(5), "nice"


def engine_threads() -> list[tuple[int, str, int]]:
    """(thread id, name, nice) of this process's threads that are not Python threads."""
    if not _TASKS.is_dir():
        return []
    tasks = list(_TASKS.iterdir())
    # Python's registry is read after the listing: a Python thread listed above is in it by
    # now, with its id, or it is still starting, and then its id is not known yet.
    python = threading.enumerate()
    python_ids = {thread.native_id for thread in python}
    starting = None in python_ids
    own = _stat(_TASKS / str(threading.main_thread().native_id))
    process_name = own[0] if own else None
    found = []
    for task in tasks:
        tid = int(task.name)
        if tid in python_ids:
            continue
        stat = _stat(task)
        if stat is None:
            continue  # ended
        if starting and stat[0] == process_name:
            continue  # maybe that Python thread; the next look decides
        found.append((tid, *stat))
    return found


def lower_engine_threads(nice: int) -> int:
    """Raise every engine thread's nice value to `nice` (never lower one); returns how many
    threads changed."""
    changed = 0
    for tid, _name, current in engine_threads():
        if current >= nice:
            continue
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:  # ended meanwhile
            continue
        changed += 1
    return changed


def keep_engine_threads_low(nice: int) -> bool:
    """Start the daemon thread that keeps the engine's threads at `nice`, once per process.
    Returns whether it runs (not for 0, nor where threads cannot be listed)."""
    global _watching
    if nice == 0 or not _TASKS.is_dir():
        return False
    with _start_lock:
        if _watching:
            return True
        _watching = True
    lower_engine_threads(nice)
    threading.Thread(target=_rescan, args=(nice,), name="clickhouse-nice", daemon=True).start()
    return True


def _rescan(nice: int) -> None:
    stop = threading.Event()  # never set: the thread ends with the process
    while not stop.wait(RESCAN_SECONDS):
        lower_engine_threads(nice)
