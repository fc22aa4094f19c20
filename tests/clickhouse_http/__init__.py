"""A stand-in for a ClickHouse server's HTTP interface, for tests only.

The `prod` target (dbt-clickhouse over HTTP) and the clickhouse-connect extractor need a ClickHouse
server; CI has none. This package serves ClickHouse's HTTP protocol on 127.0.0.1 from its own
process, running every query on the embedded engine (chdb) on its own data directory, so the real
dbt-clickhouse and the real clickhouse-connect talk to real ClickHouse SQL. It is never a product
feature: nothing under `flows/` imports it.

What it honours (the parts of the protocol the two clients use, as a server does them):
- the query from the URL parameter `query` and/or the body (concatenated), `param_<name>`
  server-side parameters (also as multipart form fields), `database`, `default_format` and a
  trailing `FORMAT x`;
- every other URL parameter is a ClickHouse setting for that one query (`readonly` included; a GET
  request is `readonly=2`, as on a server);
- sessions: `session_id` binds requests to one chdb connection whose `SET`, `USE` and temporary
  tables persist (`session_timeout`, `session_check`, `close_session`); a session runs one query at
  a time (SESSION_IS_LOCKED otherwise); requests without one are independent;
- one configured user and password, from basic auth, `X-ClickHouse-User`/`X-ClickHouse-Key` or the
  `user`/`password` parameters; a wrong one gets ClickHouse's Code 516 AUTHENTICATION_FAILED, 403;
- response compression (`enable_http_compression` and `Accept-Encoding`, the server's preference
  order zstd, lz4, gzip, deflate) and compressed request bodies (`Content-Encoding`);
- errors as a server sends them: the status code ClickHouse maps the error to, the body
  `Code: N. DB::Exception: ... (NAME) (version V)` and the header `X-ClickHouse-Exception-Code`;
- `INSERT ... FORMAT x` with the data in the body (the query in the URL), through a file;
- a request log (JSON lines) without the credentials the server necessarily receives.

Results are produced whole before they are sent (no streaming, no progress headers), which is
enough at test scales. `ClickHouseStandIn` (in `process`) starts and stops the server process.
"""

from clickhouse_http.process import ClickHouseStandIn, RealServer

__all__ = ["ClickHouseStandIn", "RealServer"]
