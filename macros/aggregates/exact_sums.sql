{#
    Sums and means of Float64 values that come out the same, to the last bit, however ClickHouse
    splits the rows among its threads. A plain sum(Float64) adds in the order the threads finish,
    so two builds of the same data can differ in the last bits; a resumed backfill that builds a
    mart again must give the same table as an uninterrupted run. Each value becomes a fixed-point
    number with 12 decimals (Decimal128: sums up to 10^26 are exact integer arithmetic, which does
    not depend on the order), and the result a Float64 again: within 1e-12 of each value, far
    below what the API shows.
#}
{% macro exact_sum(expression) -%}
    toFloat64(sum(toDecimal128({{ expression }}, 12)))
{%- endmacro %}

{% macro exact_avg(expression) -%}
    toFloat64(sum(toDecimal128({{ expression }}, 12)) / count())
{%- endmacro %}
