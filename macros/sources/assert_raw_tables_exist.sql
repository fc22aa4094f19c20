{#
    Runs before every dbt run/build (on-run-start): stops at once, naming the missing table and
    its database, when the raw tables are not there, instead of failing later inside a model.
#}
{% macro assert_raw_tables_exist() %}
    {%- if execute -%}
        {%- set db = var('source_database') -%}
        {%- set missing = [] -%}
        {%- for table in ['player_rounds', 'server_online_counts'] -%}
            {%- if adapter.get_relation(database=none, schema=db, identifier=table) is none -%}
                {%- do missing.append(db ~ '.' ~ table) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(
                'missing source table(s) ' ~ missing | join(', ') ~ ' in ClickHouse database '
                ~ db ~ ': load the raw data there, run `bfstats generate` for demo data, '
                ~ 'or set dbt var source_database to the database that holds them'
            ) }}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}
