{#
    A table that the backfill may build in parts, so that its first rows can be loaded into
    SQLite while ClickHouse computes the rest (bfstats.build_parts). The part comes in the var
    `build_part`: {'first': true|false, 'lower': <value or none>, 'upper': <value or none>};
    the model keeps only its rows whose part column is in [lower, upper) (build_part_filter).
    - No `build_part` (a plain `dbt run`, the development path), or the first part: dbt-clickhouse's
      own `table` materialization, unchanged: the table is replaced by the model's rows (of the
      first part).
    - A later part: its rows are appended to the table the first part created (the contract's
      insert of dbt-clickhouse, with the model's query settings). The parts' ranges do not
      overlap and cover every value, so the table ends with exactly the model's rows.
#}
{% materialization table_in_parts, adapter='clickhouse' %}
    {%- set part = var('build_part', none) -%}
    {%- if part is none or part['first'] -%}
        {{ return(materialization_table_clickhouse()) }}
    {%- endif -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- if load_cached_relation(this) is none -%}
        {{ exceptions.raise_compiler_error(
            "table " ~ this ~ " does not exist: a later part of a build in parts appends to the "
            ~ "table its first part created; build the first part (or the whole model) first"
        ) }}
    {%- endif -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {% call statement('main') -%}
        {{ clickhouse__insert_into(target_relation, sql, true) }}
    {%- endcall %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
