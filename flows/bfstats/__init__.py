"""bfstats-backfill: dbt models in ClickHouse, loaded into the API's SQLite database by a Prefect flow."""

__version__ = "0.1.0"
