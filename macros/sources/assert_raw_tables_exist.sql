{#
    Runs before every dbt run/build (on-run-start): stops at once, naming the missing table and
    its database, when the raw tables are not there, instead of failing later inside a model.
    Skipped when only unit tests are selected (`dbt test --select test_type:unit`): they read
    fixtures, never the raw tables, so they run on an empty engine too.
#}
{% macro assert_raw_tables_exist() %}
    {%- set others = [] -%}
    {%- for unique_id in selected_resources if not unique_id.startswith('unit_test.') -%}
        {%- do others.append(unique_id) -%}
    {%- endfor -%}
    {%- set unit_tests_only = selected_resources and not others -%}
    {%- if execute and not unit_tests_only -%}
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
