{#
    A post-hook of the largest build, player_map_stats, set in dbt_project.yml (a hook in the
    model's YAML would be rendered while dbt parses, before this macro is known).
    On the embedded engine (target type `chdb`) it hands the memory that the build's queries
    freed back to the operating system at once. ClickHouse's allocator (jemalloc) keeps freed
    pages for seconds in case they are needed again, and the embedded engine lives in the
    backfill's own process: after this build (about 0.9 GB at scale 1) the process stayed several
    hundred MB larger while the next marts built, the loads ran and the SQLite checks ran, and
    that set the run's peak RSS. After every dbt invocation instead, it cost about 10 s of CPU
    in `backfill all` (the next queries fault their pages in again) for no lower peak. Against a
    server the memory is the server's to manage: the hook renders to nothing and dbt skips it.
#}
{% macro release_engine_memory() %}
    {%- if target.type == 'chdb' -%}
        system jemalloc purge
    {%- endif -%}
{% endmacro %}
