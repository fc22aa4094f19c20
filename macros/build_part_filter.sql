{#
    The condition that keeps a model's rows of the part being built (materialization
    table_in_parts): `column` in [lower, upper), either bound open when none. Without the var
    `build_part` every row is kept. The bounds are values of the column, written as quoted
    string literals (backslash and quote escaped), so a value cannot end the literal.
#}
{% macro build_part_filter(column) %}
    {%- set part = var('build_part', none) -%}
    {%- if part is none -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- if part['lower'] is not none -%}
        {%- do conditions.append(column ~ ' >= ' ~ bfstats_string_literal(part['lower'])) -%}
    {%- endif -%}
    {%- if part['upper'] is not none -%}
        {%- do conditions.append(column ~ ' < ' ~ bfstats_string_literal(part['upper'])) -%}
    {%- endif -%}
    {{- return(conditions | join(' and ') if conditions else '1 = 1') -}}
{% endmacro %}

{% macro bfstats_string_literal(value) %}
    {{- return("'" ~ (value | string).replace('\\', '\\\\').replace("'", "\\'") ~ "'") -}}
{% endmacro %}
