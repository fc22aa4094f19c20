{#
    An on-run-end hook (dbt_project.yml): after an invocation that ran data tests of one of
    `models`, the embedded engine's freed memory goes back to the system, as after those models'
    builds (release_engine_memory says why). The tests of player_map_stats group its 3 M keys:
    they left the process about 350 MB larger at scale 1, and the builds that follow them
    (player_server_stats) added to that; the run's peak RSS came from there. Any other
    invocation renders nothing, and dbt skips an empty hook.
#}
{% macro release_engine_memory_after_tests(results, models) %}
    {%- set tested = [] -%}
    {%- for result in results -%}
        {%- set node = result.node -%}
        {%- if node.resource_type == 'test' and node.attached_node -%}
            {%- if node.attached_node.split('.')[-1] in models -%}
                {%- do tested.append(node.attached_node) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if tested -%}{{ release_engine_memory() }}{%- endif -%}
{% endmacro %}
