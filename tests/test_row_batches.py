"""ClickHouse's Arrow blocks re-cut into fixed-size batches of flat SQLite parameters
(flows/bfstats/row_batches.py): every row once, in order, whatever the block boundaries."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from bfstats.row_batches import flat_batches, flat_values

NAMES = ["guid", "hour", "game", "avg", "peak"]


def _block(start: int, n: int) -> pa.RecordBatch:
    hours = [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in range(n)]
    return pa.RecordBatch.from_arrays(
        [
            pa.array([f"srv-{start + i}" for i in range(n)]),
            pa.array(hours, pa.timestamp("s", tz="UTC")),
            pa.array(["bf1942" if i % 2 else "fh2" for i in range(n)]).dictionary_encode(),
            pa.array([(start + i) / 4 for i in range(n)]),
            pa.array([None if i % 3 == 0 else start + i for i in range(n)], pa.uint16()),
        ],
        names=NAMES,
    )


def _rows(blocks) -> list[tuple]:
    return [
        row for block in blocks for row in zip(*(c.to_pylist() for c in block.columns), strict=True)
    ]


@pytest.mark.parametrize(
    ("sizes", "batch_size"),
    [([7, 0, 5, 13], 4), ([4, 4], 4), ([1], 1000), ([2500], 1000), ([3, 3, 3], 1), ([], 10)],
)
def test_every_row_once_in_order_in_batches_of_the_size(sizes, batch_size):
    blocks, start = [], 0
    for n in sizes:
        blocks.append(_block(start, n))
        start += n
    expected = _rows(blocks)

    batches = list(flat_batches(iter(blocks), batch_size))

    assert [b.rows for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert sum(b.rows for b in batches) == len(expected)
    got = [batch.row(i) for batch in batches for i in range(batch.rows)]
    assert got == expected
    if batches:
        assert 0 < batches[-1].rows <= batch_size
        assert batches[-1].row(-1) == expected[-1]
        assert all(b.width == len(NAMES) for b in batches)


def test_flat_values_are_row_after_row():
    block = _block(0, 2)
    assert flat_values(block) == [value for row in _rows([block]) for value in row]


def test_a_batch_holds_a_row():
    with pytest.raises(ValueError):
        list(flat_batches(iter([_block(0, 1)]), 0))
