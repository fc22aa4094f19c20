from dataclasses import dataclass

from dbt.adapters.chdb.client import ChdbClient
from dbt.adapters.clickhouse.connections import (
    ClickHouseConnectionManager,
    retryable_exceptions,
)
from dbt.adapters.clickhouse.credentials import ClickHouseCredentials
from dbt.adapters.clickhouse.logger import logger


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


class ChdbConnectionManager(ClickHouseConnectionManager):
    TYPE = "chdb"

    @classmethod
    def open(cls, connection):
        if connection.state == "open":
            return connection
        credentials = cls.get_credentials(connection.credentials)
        return cls.retry_connection(
            connection,
            connect=lambda: ChdbClient(credentials),
            logger=logger,
            retry_limit=credentials.retries,
            retryable_exceptions=retryable_exceptions,
        )
