{#
    Fails with one row per key value that occurs more than once. dbt_utils is not available
    offline, and the built-in `unique` test covers a single column only.
#}
{% test unique_key(model, columns) %}
    {%- set key -%}
        {%- for column in columns -%}
            {{ adapter.quote(column) }}{{ ", " if not loop.last }}
        {%- endfor -%}
    {%- endset %}
    select
        {{ key }},
        count(*) as n_records
    from {{ model }}
    group by {{ key }}
    having count(*) > 1
{% endtest %}
