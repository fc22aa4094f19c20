"""Reading from ClickHouse: the embedded engine (chdb) or a server over HTTP (clickhouse-connect).

Both stream a query's result as Arrow record batches without holding it in memory, and both
bind values as ClickHouse server-side parameters (`{name:Type}` in the SQL).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from bfstats.config import Target
from bfstats.errors import BfstatsError


class ClickHouseError(BfstatsError, RuntimeError):
    """A query failed; the message names the query."""

    kind = "ClickHouse error"


class EmbeddedSource:
    """Sessions on this process's chdb engine (the one dbt uses)."""

    def __init__(self, target: Target):
        from dbt.adapters.chdb import engine

        self.target = target
        self._session = engine.connect(target.path)

    def stream(self, name: str, sql: str, parameters: dict, rows_per_batch: int):
        stream = self._session.send_query(sql, "Arrow", params=_as_text(parameters))
        try:
            yield from stream.record_batch(rows_per_batch=rows_per_batch)
        except Exception as error:
            raise ClickHouseError(f"query {name} failed: {error}") from error
        finally:
            stream.close()

    def scalar(self, name: str, sql: str, parameters: dict):
        try:
            result = self._session.query(sql, "ArrowStream", params=_as_text(parameters))
        except Exception as error:
            raise ClickHouseError(f"query {name} failed: {error}") from error
        table = pa.ipc.open_stream(result.bytes()).read_all()
        return table.column(0)[0].as_py()

    def rows(self, name: str, sql: str, parameters: dict) -> list[tuple]:
        """All rows of a small result."""
        return [
            row for block in rows_of(self.stream(name, sql, parameters, 65_536)) for row in block
        ]

    def close(self) -> None:
        self._session.close()


class ServerSource:
    """A ClickHouse server over HTTP(S), with the profile's credentials."""

    def __init__(self, target: Target):
        import clickhouse_connect

        self.target = target
        self._client = clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            username=target.user,
            password=target.password,
            secure=target.secure,
            database=target.database,
            client_name="bfstats-backfill",
        )

    def stream(self, name: str, sql: str, parameters: dict, rows_per_batch: int):
        try:
            with self._client.query_arrow_stream(sql, parameters=parameters) as batches:
                yield from batches
        except Exception as error:
            raise ClickHouseError(f"query {name} failed: {error}") from error

    def rows(self, name: str, sql: str, parameters: dict) -> list[tuple]:
        """All rows of a small result."""
        try:
            return [
                tuple(row) for row in self._client.query(sql, parameters=parameters).result_rows
            ]
        except Exception as error:
            raise ClickHouseError(f"query {name} failed: {error}") from error

    def scalar(self, name: str, sql: str, parameters: dict):
        try:
            return self._client.command(sql, parameters=parameters)
        except Exception as error:
            raise ClickHouseError(f"query {name} failed: {error}") from error

    def close(self) -> None:
        self._client.close()


def _as_text(parameters: dict) -> dict:
    # chdb binds parameters from their text form, like the HTTP interface's param_ arguments.
    return {name: str(value) for name, value in parameters.items()}


def open_source(target: Target) -> EmbeddedSource | ServerSource:
    if target.kind == "chdb":
        return EmbeddedSource(target)
    return ServerSource(target)


def rows_of(batches: Iterator[pa.RecordBatch]) -> Iterator[list[tuple]]:
    """Arrow batches as lists of Python tuples (column-wise conversion, then zip)."""
    for batch in batches:
        if batch.num_rows:
            yield list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
