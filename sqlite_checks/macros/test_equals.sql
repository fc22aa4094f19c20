{#
    Fails with the rows whose value is not exactly `value` (a NULL fails too). Generated for a
    table's as_of column (meta.sqlite_as_of_column) with the run's as_of: every row of a table
    published by the run holds that instant (SPEC: UpdatedAt = as_of), so one text comparison
    per row checks both the instant and its `YYYY-MM-DDTHH:MM:SSZ` shape.
#}
{% test equals(model, column_name, value) %}
    {%- set column = adapter.quote(column_name) %}
    {%- set literal = "'" ~ (value | replace("'", "''")) ~ "'" %}
    select {{ column }}
    from {{ model }}
    where {{ column }} is not {{ literal }}
{% endtest %}
