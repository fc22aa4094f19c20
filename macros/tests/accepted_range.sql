{#
    Fails for every row whose `column_name` lies outside [min_value, max_value]; bounds are
    inclusive and either may be omitted (a missing bound compares the column with itself).
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} as out_of_range_value
from {{ model }}
where
    {{ column_name }} < {{ column_name if min_value is none else min_value }}
    or {{ column_name }} > {{ column_name if max_value is none else max_value }}
{% endtest %}
