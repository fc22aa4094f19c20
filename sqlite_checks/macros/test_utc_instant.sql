{#
    Instants are TEXT `YYYY-MM-DDTHH:MM:SSZ` (SPEC section 4): the API parses them back, and
    text comparisons sort them only in that exact shape. Fails with the values in another shape.

    Parsing every row is what costs (seconds for millions of rows). With `distinct_by_index`
    (set by bfstats.sqlite_checks when the column leads an index in BINARY order) the distinct
    values are walked instead, one index seek each: a value that occurs in many rows is checked
    once, and the test fails with one row per bad value rather than per bad row.
#}
{% macro not_a_utc_instant(expression) %}
    {%- set shape = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z" %}
    {{ expression }} is not null
    and (
        typeof({{ expression }}) != 'text'
        or {{ expression }} not glob '{{ shape }}'
        or datetime({{ expression }}) is null
    )
{%- endmacro %}

{% test utc_instant(model, column_name, distinct_by_index=false) %}
    {%- set column = adapter.quote(column_name) %}
    {%- if distinct_by_index %}
    with recursive walked (value) as (
        select min({{ column }}) from {{ model }}
        union all
        select (select min({{ column }}) from {{ model }} where {{ column }} > walked.value)
        from walked
        where walked.value is not null
    )

    select value as {{ column }}
    from walked
    where {{ not_a_utc_instant("value") }}
    {%- else %}
    select {{ column }}
    from {{ model }}
    where {{ not_a_utc_instant(column) }}
    {%- endif %}
{%- endtest %}
