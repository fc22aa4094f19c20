{#
    Instants are TEXT `YYYY-MM-DDTHH:MM:SSZ` (SPEC section 4): the API parses them back, and
    text comparisons sort them only in that exact shape. Fails with the rows in another shape.
#}
{% test utc_instant(model, column_name) %}
    {%- set column = adapter.quote(column_name) %}
    {%- set shape = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z" %}
    select {{ column }}
    from {{ model }}
    where
        {{ column }} is not null
        and (
            typeof({{ column }}) != 'text'
            or {{ column }} not glob '{{ shape }}'
            or datetime({{ column }}) is null
        )
{%- endtest %}
