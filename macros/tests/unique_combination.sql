{#
    Fails for every key that occurs on more than one row of `model`: the combination of
    `columns` must be unique (a composite primary key). dbt_utils is not available offline.

    Two passes, because grouping by the key columns themselves holds every distinct key's text in
    the aggregation (PlayerMapStats at scale 1: 3 M keys, about 340 MB while the backfill's loads
    and builds run beside it). The first pass groups a 128-bit hash of the key, which needs about
    40 % of that memory and the same time, and keeps the hashes seen more than once; the second
    groups, by the key columns, only the rows with one of those hashes. The result is exact: a
    hash collision of two different keys only lets their rows into the second pass, where they
    are told apart. The key columns are expected NOT NULL (each has its not_null test).
#}
{% test unique_combination(model, columns) %}
    {%- set key = [] -%}
    {%- for column in columns -%}
        {%- do key.append(adapter.quote(column)) -%}
    {%- endfor -%}
with repeated_key_hashes as (
    select sipHash128({{ key | join(', ') }}) as key_hash
    from {{ model }}
    group by key_hash
    having count(*) > 1
)

select
    {{ key | join(', ') }},
    count(*) as duplicate_rows
from {{ model }}
where sipHash128({{ key | join(', ') }}) in (select key_hash from repeated_key_hashes)
group by {{ key | join(', ') }}
having count(*) > 1
{% endtest %}
