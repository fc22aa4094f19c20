{# The chdb adapter adds no macros of its own: dispatch falls back to dbt-clickhouse's clickhouse__ macros. #}
