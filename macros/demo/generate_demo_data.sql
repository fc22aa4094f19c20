{#
    Fills player_rounds and server_online_counts in `database` (default: var source_database)
    with deterministic synthetic data, computed inside ClickHouse: every value is a hash of
    `seed` and the row's coordinates, so (scale, seed, cadence_minutes, days, end_time) fixes
    every row. Scale 1 is production size (SPEC section 1): about 1 000 servers sampled every
    `cadence_minutes` for `days` days up to `end_time`, 50 k players, 3.8 M player rounds.
    A few percent of the rows are then sent a second time, some with corrected values, as the
    production writer does, so that reading without FINAL double-counts.

    dbt run-operation generate_demo_data --args '{scale: 0.01, seed: 42, end_time: "2026-01-31 12:00:00"}'
#}
{% macro generate_demo_data(
    scale=1.0, seed=42, cadence_minutes=5, days=180, end_time=none, replace=false, database=none
) %}
    {%- set db = database or var('source_database') -%}
    {%- set size = demo_sizes(scale, cadence_minutes, days) -%}
    {%- set end_text = end_time or modules.datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:00') -%}
    {#- The instant is pasted into SQL, so it must parse as exactly this format first. -#}
    {%- do modules.datetime.datetime.strptime(end_text, '%Y-%m-%d %H:%M:%S') -%}
    {%- set seed_sql = 'toInt64(' ~ (seed | int) ~ ')' -%}
    {%- set shape = {
        'db': adapter.quote(db), 'seed': seed_sql, 'size': size,
        'end_epoch': "toUnixTimestamp(toDateTime('" ~ end_text ~ "', 'UTC'))",
        'vocab': demo_vocabulary(),
    } -%}

    {% do create_raw_tables(db) %}
    {% if replace %}
        {% do run_query('truncate table ' ~ shape.db ~ '.`player_rounds`') %}
        {% do run_query('truncate table ' ~ shape.db ~ '.`server_online_counts`') %}
    {% else %}
        {% do demo_assert_empty(db) %}
    {% endif %}

    {#- One insert per month: each block then falls in one partition, which gives few, large parts. -#}
    {% for first_sample, end_sample in demo_month_slices(end_text, size) %}
        {% do run_query(demo_insert_server_samples_sql(shape, first_sample, end_sample)) %}
    {% endfor %}
    {% do run_query(demo_insert_player_rounds_sql(shape)) %}
    {# Separate inserts after the originals: newer parts, so FINAL keeps the re-sent version. #}
    {% do run_query(demo_resend_server_samples_sql(shape)) %}
    {% do run_query(demo_resend_player_rounds_sql(shape)) %}
{% endmacro %}


{#
    Row counts for a scale. Small scales keep floors so that every kind of row still appears
    (the three games, bots, heavy players, duplicates).
#}
{% macro demo_sizes(scale, cadence_minutes, days) %}
    {%- if not (scale > 0 and cadence_minutes >= 1 and days >= 1) -%}
        {{ exceptions.raise_compiler_error(
            'generate_demo_data: scale must be > 0, cadence_minutes >= 1 and days >= 1; got scale='
            ~ scale ~ ', cadence_minutes=' ~ cadence_minutes ~ ', days=' ~ days) }}
    {%- endif -%}
    {%- set servers = [4, (1000 * scale) | round | int] | max -%}
    {%- set players = [40, (50000 * scale) | round | int] | max -%}
    {#- About 76 rounds per player on average (3.8 M / 50 k), in rounds of about 16 players. -#}
    {%- set rounds_per_server = [200, ((76 * players / 16) / servers) | round(0, 'ceil') | int] | max -%}
    {%- set span_seconds = (days | int) * 86400 -%}
    {{ return({
        'servers': servers,
        'players': players,
        'rounds_per_server': rounds_per_server,
        'span_seconds': span_seconds,
        'round_slot_seconds': (span_seconds // rounds_per_server),
        'cadence_seconds': (cadence_minutes | int) * 60,
        'samples_per_server': ((days | int) * 1440) // (cadence_minutes | int),
    }) }}
{% endmacro %}


{#
    Sample k of every server is taken at end_time - (samples_per_server - 1 - k) * cadence.
    Returns [first k, end k) per calendar month (UTC), oldest first.
#}
{% macro demo_month_slices(end_text, size) %}
    {%- set datetime = modules.datetime -%}
    {%- set cadence, total = size.cadence_seconds, size.samples_per_server -%}
    {%- set first_time = datetime.datetime.strptime(end_text, '%Y-%m-%d %H:%M:%S')
        - datetime.timedelta(seconds=(total - 1) * cadence) -%}
    {%- set slices = [] -%}
    {%- set month = {'year': first_time.year, 'month': first_time.month} -%}
    {%- for _ in range(size.span_seconds // (28 * 86400) + 2) -%}
        {%- set next_year = month.year + (1 if month.month == 12 else 0) -%}
        {%- set next_month = month.month % 12 + 1 -%}
        {%- set seconds_to_next = (
            datetime.datetime(next_year, next_month, 1) - first_time
        ).total_seconds() | int -%}
        {%- set end_sample = [total, (seconds_to_next + cadence - 1) // cadence] | min -%}
        {%- set first_sample = slices[-1][1] if slices else 0 -%}
        {%- if first_sample < end_sample -%}
            {%- do slices.append([first_sample, end_sample]) -%}
        {%- endif -%}
        {%- do month.update({'year': next_year, 'month': next_month}) -%}
    {%- endfor -%}
    {{ return(slices) }}
{% endmacro %}


{% macro demo_assert_empty(db) %}
    {%- for table in ['player_rounds', 'server_online_counts'] -%}
        {%- set rows = run_query(
            'select count() from ' ~ adapter.quote(db) ~ '.' ~ adapter.quote(table)
        ).columns[0].values()[0] -%}
        {%- if rows > 0 -%}
            {{ exceptions.raise_compiler_error(
                db ~ '.' ~ table ~ ' already holds ' ~ rows ~ ' rows: pass replace=true to empty '
                ~ 'both raw tables first, or choose another database (var source_database)') }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
