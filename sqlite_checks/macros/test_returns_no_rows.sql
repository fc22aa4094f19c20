{#
    Fails with the rows `query` returns. The query is a mart's singular test translated to SQLite
    by bfstats.sqlite_checks (the `source()` calls in it name every table it reads, so a test over
    several tables runs only when all of them are checked together).
#}
{% test returns_no_rows(model, query) %}
    {{ query }}
{% endtest %}
