"""A rich progress bar per table for the CLI, shown only on a terminal."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from bfstats import progress


@contextmanager
def progress_bar():
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bars = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
    tasks: dict[str, int] = {}

    def on_event(event: progress.ProgressEvent) -> None:
        if event.table not in tasks:
            tasks[event.table] = bars.add_task(event.table, total=event.rows_total)
        bars.update(tasks[event.table], completed=event.rows_done, total=event.rows_total)

    progress.add_listener(on_event)
    with bars:
        try:
            yield
        finally:
            progress.remove_listener(on_event)
