{#
    Fails with the rows for which a condition over several columns does not hold
    (e.g. a milestone's kill count is at least the milestone).
#}
{% test expression_is_true(model, expression) %}
    select *
    from {{ model }}
    where not ({{ expression }})
{% endtest %}
