"""Prefect deployments of the flow: `backfill/all` and `backfill/<service>` for each service,
served together by one runner (`bfstats serve`) that runs one flow run at a time - the embedded
ClickHouse directory may be opened by one process only, and two backfills into one SQLite file
would fight over it."""

from __future__ import annotations

from bfstats import catalog as catalog_module
from bfstats.flow import backfill


def build_deployments(catalog: catalog_module.Catalog) -> list:
    names = [catalog_module.ALL, *catalog.names]
    return [
        backfill.to_deployment(
            name=name,
            parameters={"services": [name]},
            concurrency_limit=1,
            description=(
                "Backfill every service"
                if name == catalog_module.ALL
                else f"Backfill service {name} only"
            ),
            tags=["bfstats"],
        )
        for name in names
    ]


def serve() -> None:
    from prefect import serve as prefect_serve

    deployments = build_deployments(catalog_module.load())
    prefect_serve(*deployments, limit=1)
