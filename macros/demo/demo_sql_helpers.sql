{#
    Small SQL builders for the demo generator. Every random draw is a hash of the seed, a label
    and the row's coordinates, so the same inputs give the same rows on any ClickHouse.
#}

{# A ClickHouse string literal (ClickHouse reads backslash escapes inside quotes). #}
{% macro demo_literal(text) -%}
    '{{ text | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{% macro demo_array(values) -%}
    [{% for value in values %}{{ demo_literal(value) }}{{ ', ' if not loop.last }}{% endfor %}]
{%- endmacro %}

{# A number in [0, 1) drawn from the seed, a label and coordinates (SQL expressions). #}
{% macro demo_unit(seed, label) -%}
    (cityHash64({{ seed }}, {{ demo_literal(label) }}, {{ varargs | join(', ') }}) / 18446744073709551616.0)
{%- endmacro %}

{# A UInt64 drawn the same way, for picking an element or a count. #}
{% macro demo_draw(seed, label) -%}
    cityHash64({{ seed }}, {{ demo_literal(label) }}, {{ varargs | join(', ') }})
{%- endmacro %}

{# `values[draw % length]` for a constant list, 1-based as ClickHouse arrays are. #}
{% macro demo_pick(values, draw) -%}
    {{ demo_array(values) }}[1 + ({{ draw }}) % {{ values | length }}]
{%- endmacro %}
