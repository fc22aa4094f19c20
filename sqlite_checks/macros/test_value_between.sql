{#
    Fails with the rows whose value lies outside [min_value, max_value] (either bound may be
    omitted). NULLs pass: not_null reports them.
#}
{% test value_between(model, column_name, min_value=none, max_value=none) %}
    {%- set column = adapter.quote(column_name) %}
    {%- set outside = [] %}
    {%- if min_value is not none %}{% do outside.append(column ~ " < " ~ min_value) %}{% endif %}
    {%- if max_value is not none %}{% do outside.append(column ~ " > " ~ max_value) %}{% endif %}
    {%- if not outside %}
        {{ exceptions.raise_compiler_error("value_between on " ~ column_name ~ " needs min_value or max_value") }}
    {%- endif %}
    select {{ column }}
    from {{ model }}
    where {{ outside | join(" or ") }}
{% endtest %}
