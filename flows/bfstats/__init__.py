"""bfstats-backfill: dbt models in ClickHouse, loaded into the API's SQLite file by Prefect."""

__version__ = "0.1.0"
