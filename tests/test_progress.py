"""A table's progress (SPEC: a log line every 10 000 rows): the lines, in order, with the rows
done of the rows expected."""

from __future__ import annotations

import logging

from bfstats import progress


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_line_every_10_000_rows_in_order():
    # First: its start imports Prefect, whose logging set-up drops handlers added before.
    table = progress.TableProgress("PlayerMapStats", 45_500)
    lines = _Lines()
    log = logging.getLogger(progress.LOGGER_NAME)
    log.addHandler(lines)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        for _ in range(45):
            table.advance(1000)
        table.advance(500)
        table.finish()
        log.info("the load's own last line")
    finally:
        log.removeHandler(lines)
        log.setLevel(level)

    texts = [record.getMessage() for record in lines.records]
    assert [text.split(" rows (")[0] for text in texts[:-1]] == [
        f"PlayerMapStats: {n:,} of 45,500" for n in (10_000, 20_000, 30_000, 40_000)
    ]
    assert texts[-1] == "the load's own last line"
