"""dbt adapter `chdb`: dbt-clickhouse's SQL, run on the in-process ClickHouse engine of chdb-core.

The plugin declares `dependencies=["clickhouse"]`, so every macro and materialization that
dbt-clickhouse ships (`clickhouse__*`) is used unchanged; only the connection differs.
"""

from dbt.adapters.base import AdapterPlugin
from dbt.adapters.chdb.connections import ChdbConnectionManager, ChdbCredentials  # noqa: F401
from dbt.adapters.chdb.impl import ChdbAdapter
from dbt.include import chdb

Plugin = AdapterPlugin(
    adapter=ChdbAdapter,
    credentials=ChdbCredentials,
    include_path=chdb.PACKAGE_PATH,
    dependencies=["clickhouse"],
)
