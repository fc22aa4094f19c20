{#
    Fails for every key that occurs on more than one row of `model`: the combination of
    `columns` must be unique (a composite primary key). dbt_utils is not available offline.
#}
{% test unique_combination(model, columns) %}
    {%- set key = [] -%}
    {%- for column in columns -%}
        {%- do key.append(adapter.quote(column)) -%}
    {%- endfor -%}
select
    {{ key | join(', ') }},
    count(*) as duplicate_rows
from {{ model }}
group by {{ key | join(', ') }}
having count(*) > 1
{% endtest %}
