{#
    The snapshot instant of SPEC section 3 as a ClickHouse DateTime('UTC') expression.
    var('as_of') is rendered into SQL as a literal, so it is validated here (format, calendar,
    DateTime range) before it reaches a query. Empty means dbt's run_started_at truncated to the
    second: every model of one invocation then sees the same instant.
#}
{% macro as_of() %}
    {{- return("toDateTime('" ~ as_of_text() ~ "', 'UTC')") -}}
{% endmacro %}

{#- The validated instant as 'YYYY-MM-DD HH:MM:SS' (UTC). -#}
{% macro as_of_text() %}
    {%- set raw = var('as_of', '') -%}
    {%- if raw is none or raw == '' -%}
        {{- return(run_started_at.strftime('%Y-%m-%d %H:%M:%S')) -}}
    {%- endif -%}
    {%- if raw is not string and raw.strftime is defined -%}
        {#- --vars is YAML: an unquoted timestamp arrives as a datetime, possibly with an offset. -#}
        {%- if raw.tzinfo is not none -%}
            {%- set raw = raw.astimezone(modules.pytz.utc) -%}
        {%- endif -%}
        {%- set raw = raw.strftime('%Y-%m-%d %H:%M:%S') -%}
    {%- endif -%}
    {%- set text = raw | string | trim -%}
    {%- set pattern = '^(\\d{4})-(\\d{2})-(\\d{2})( |T)(\\d{2}):(\\d{2}):(\\d{2})(Z?)$' -%}
    {%- set match = modules.re.match(pattern, text) -%}
    {#- 'T' goes with 'Z' (ISO 8601 UTC) and a space with none (ClickHouse text). -#}
    {%- if not match or (match.group(4) == 'T') != (match.group(8) == 'Z') -%}
        {{- exceptions.raise_compiler_error(
            "var 'as_of' is " ~ '"' ~ text ~ '"' ~ ": give a UTC instant as 'YYYY-MM-DD HH:MM:SS' or "
            ~ "'YYYY-MM-DDTHH:MM:SSZ', or leave it empty for the start of the run"
        ) -}}
    {%- endif -%}
    {%- set year, month, day = match.group(1) | int, match.group(2) | int, match.group(3) | int -%}
    {%- set hour, minute, second = match.group(5) | int, match.group(6) | int, match.group(7) | int -%}
    {%- set month_ok = 1 <= month <= 12 -%}
    {%- set days_in_month = 0 -%}
    {%- if month_ok and 1970 <= year <= 2105 -%}
        {%- set next_month = modules.datetime.date(year + month // 12, month % 12 + 1, 1) -%}
        {%- set days_in_month = (next_month - modules.datetime.timedelta(days=1)).day -%}
    {%- endif -%}
    {%- if not (1 <= day <= days_in_month and hour <= 23 and minute <= 59 and second <= 59) -%}
        {{- exceptions.raise_compiler_error(
            "var 'as_of' is " ~ '"' ~ text ~ '"' ~ ": not a valid UTC instant between 1970-01-01 and "
            ~ "2105-12-31; give a real date and time as 'YYYY-MM-DD HH:MM:SS'"
        ) -}}
    {%- endif -%}
    {{- return('%04d-%02d-%02d %02d:%02d:%02d' | format(year, month, day, hour, minute, second)) -}}
{% endmacro %}
