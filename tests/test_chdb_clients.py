"""dbt-chdb keeps the clients dbt closes and hands them to the next connection: what a session
holds must not reach the next invocation, and closing the kept clients lets go of the engine."""

from __future__ import annotations

import os

from dbt.adapters.chdb import engine
from dbt.adapters.chdb.client import ChdbClient
from dbt.adapters.chdb.connections import ChdbCredentials, _IdleClients


def credentials(schema: str = "kept_clients") -> ChdbCredentials:
    return ChdbCredentials(path=os.environ["BFSTATS_CHDB_PATH"], schema=schema)


def temporary_tables(client: ChdbClient) -> list[str]:
    rows = client.query("SELECT name FROM system.tables WHERE is_temporary").result_rows
    return sorted(name for (name,) in rows)


def test_a_kept_client_comes_back_without_the_temporary_tables_of_its_last_user():
    idle = _IdleClients()
    given = credentials()
    client = ChdbClient(given)
    client.command("CREATE TEMPORARY TABLE unit_test__dbt_tmp (x UInt8)")
    assert temporary_tables(client) == ["unit_test__dbt_tmp"]

    idle.keep(_IdleClients.key(given), client)
    again = idle.take(_IdleClients.key(given))
    assert again is client
    assert temporary_tables(again) == []
    assert idle.take(_IdleClients.key(given)) is None  # handed out once
    again.close()


def test_clients_are_kept_per_credentials_and_closing_them_ends_their_sessions():
    idle = _IdleClients()
    first, second = credentials("kept_a"), credentials("kept_b")
    client = ChdbClient(first)
    idle.keep(_IdleClients.key(first), client)
    assert idle.take(_IdleClients.key(second)) is None

    sessions = engine._open_sessions
    idle.close_all()
    assert engine._open_sessions == sessions - 1
    assert idle.take(_IdleClients.key(first)) is None
