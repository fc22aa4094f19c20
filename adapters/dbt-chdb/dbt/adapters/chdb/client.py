"""A dbt-clickhouse client over an in-process chdb session.

dbt-clickhouse talks to ClickHouse through a `ChClientWrapper` (query, command,
columns_in_query, settings, version). This one answers the same calls from the embedded
engine, so dbt-clickhouse's materializations run on it unchanged.
"""

from __future__ import annotations

import json

from clickhouse_connect.driver.ctypes import RespBuffCls
from clickhouse_connect.driver.query import QueryContext, QueryResult
from clickhouse_connect.driver.transform import NativeTransform
from dbt.adapters.chdb import engine
from dbt.adapters.clickhouse import ClickHouseColumn
from dbt.adapters.clickhouse.dbclient import ChClientWrapper
from dbt.adapters.clickhouse.query import quote_identifier
from dbt_common.exceptions import DbtDatabaseError


class _NativeBytes:
    """A whole chdb result in ClickHouse's Native format, as a one-chunk response stream."""

    def __init__(self, data: bytes):
        self.gen = iter((data,) if data else ())

    def close(self):
        pass


def _decode(result) -> QueryResult:
    """Rows as dbt-clickhouse's HTTP client gets them: clickhouse-connect decodes the Native
    format, so DateTime is a datetime, Enum its name, and so on (Arrow would give the epoch
    seconds and the enum's number)."""
    return NativeTransform.parse_response(RespBuffCls(_NativeBytes(result.bytes())), QueryContext())


class ChdbClient(ChClientWrapper):
    def _run(self, sql: str, fmt: str = "Native", parameters=None):
        try:
            return self._client.query(sql, fmt, params=parameters or {})
        except Exception as ex:  # chdb raises its own error types for every server-side error
            raise DbtDatabaseError(str(ex)) from ex

    def query(self, sql: str, **kwargs):
        return _decode(self._run(sql, parameters=kwargs.get("parameters")))

    def command(self, sql: str, **kwargs):
        result = _decode(self._run(sql, parameters=kwargs.get("parameters")))
        rows = result.result_set
        if len(rows) == 1:
            return rows[0][0] if len(result.column_names) == 1 else list(rows[0])
        return None

    def columns_in_query(self, sql: str, **kwargs):
        # `sql` is the model SQL dbt compiled, as dbt-clickhouse's HTTP client wraps it too.
        wrapped = f"SELECT * FROM ( \n{sql} \n) LIMIT 0"  # noqa: S608
        result = self._run(wrapped, "JSONCompactEachRowWithNamesAndTypes")
        lines = result.bytes().decode().splitlines()
        names, types = json.loads(lines[0]), json.loads(lines[1])
        return [
            ClickHouseColumn.create(name, ch_type)
            for name, ch_type in zip(names, types, strict=True)
        ]

    def get_ch_setting(self, setting_name):
        row = self.command(
            "SELECT value, readonly FROM system.settings WHERE name = {name:String}",
            parameters={"name": setting_name},
        )
        return (row[0], row[1]) if row else (None, 0)

    def close(self):
        self._client.close()

    def _create_client(self, credentials):
        session = engine.connect(credentials.path)
        for name, value in self._conn_settings.items():
            if name == "session_id":
                continue  # an in-process session is its own session
            session.query(
                f"SET {quote_identifier(name)} = {{value:String}}", params={"value": str(value)}
            )
        return session

    def _set_client_database(self):
        self._run(f"USE {quote_identifier(self.database)}")

    def _server_version(self):
        return self.command("SELECT version()")
