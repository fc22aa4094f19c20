import atexit
import json
import threading
from dataclasses import dataclass

from dbt.adapters.chdb.client import ChdbClient
from dbt.adapters.clickhouse.connections import (
    ClickHouseConnectionManager,
    retryable_exceptions,
)
from dbt.adapters.clickhouse.credentials import ClickHouseCredentials
from dbt.adapters.clickhouse.logger import logger
from dbt.adapters.clickhouse.query import quote_identifier
from dbt.adapters.contracts.connection import ConnectionState


@dataclass
class ChdbCredentials(ClickHouseCredentials):
    """Profile fields: `path` (the engine's data directory) and `schema` (the database)."""

    path: str = "./data/clickhouse"
    # EXCHANGE TABLES works on the embedded Atomic databases; skip the probe tables.
    check_exchange: bool = False

    @property
    def type(self):
        return "chdb"

    @property
    def unique_field(self):
        return self.path

    def _connection_keys(self):
        return ("path", "schema")


class _IdleClients:
    """Clients that dbt closed, kept for the next connection with the same credentials.

    dbt opens a connection for its main thread and one per node thread in every invocation and
    closes them all when it ends. Opening a client is a session on the engine plus the probes
    dbt-clickhouse makes of every new client (its settings, the database, the version,
    lightweight deletes): about 0.07 s of CPU and 0.15 s per invocation, which a backfill pays
    some twenty times. A kept client is the same session, so what a session holds goes first:
    its temporary tables (dbt's unit tests create them and count on the session's end to drop
    them). Nothing else stays on it: dbt-clickhouse sends model settings with each query and
    sets nothing on the session. A client that cannot be cleaned is closed. `close_all` closes
    the kept ones, and with the last session the engine releases its data directory for other
    processes: the flow calls it at the end of every run, and it runs at the process's exit
    (an engine still holding sessions then prints a shutdown error).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, list[ChdbClient]] = {}

    @staticmethod
    def key(credentials) -> str:
        return json.dumps(credentials.to_dict(), sort_keys=True, default=str)

    def take(self, key: str) -> ChdbClient | None:
        with self._lock:
            kept = self._clients.get(key)
            return kept.pop() if kept else None

    def keep(self, key: str, client: ChdbClient) -> None:
        try:
            temporary = client.query("SELECT name FROM system.tables WHERE is_temporary")
            for (name,) in temporary.result_rows:
                client.command(f"DROP TEMPORARY TABLE IF EXISTS {quote_identifier(name)}")
        except Exception:
            client.close()
            return
        with self._lock:
            self._clients.setdefault(key, []).append(client)

    def close_all(self) -> None:
        with self._lock:
            clients = [client for kept in self._clients.values() for client in kept]
            self._clients.clear()
        for client in clients:
            client.close()


idle_clients = _IdleClients()
atexit.register(idle_clients.close_all)


class ChdbConnectionManager(ClickHouseConnectionManager):
    TYPE = "chdb"

    @classmethod
    def open(cls, connection):
        if connection.state == "open":
            return connection
        credentials = cls.get_credentials(connection.credentials)
        kept = idle_clients.take(_IdleClients.key(credentials))
        if kept is not None:
            connection.handle = kept
            connection.state = ConnectionState.OPEN
            return connection
        return cls.retry_connection(
            connection,
            connect=lambda: ChdbClient(credentials),
            logger=logger,
            retry_limit=credentials.retries,
            retryable_exceptions=retryable_exceptions,
        )

    @classmethod
    def _close_handle(cls, connection) -> None:
        if isinstance(connection.handle, ChdbClient):
            credentials = cls.get_credentials(connection.credentials)
            idle_clients.keep(_IdleClients.key(credentials), connection.handle)
        else:
            super()._close_handle(connection)
