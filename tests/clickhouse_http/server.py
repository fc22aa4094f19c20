"""The stand-in's HTTP server (tests only; see the package docstring).

    python -m clickhouse_http.server --data DIR [--port 0] [--user U] [--log FILE]
                                     [--tls-cert PEM --tls-key PEM]

The password comes from the environment variable CLICKHOUSE_HTTP_PASSWORD (not the command line,
which `ps` shows). It prints `READY <port>` once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from clickhouse_http import wire
from clickhouse_http.engine import DEFAULT_SESSION_TIMEOUT, Engine, Query, QueryError

TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
# `INSERT ... FORMAT x`, then the data after one newline (or spaces) - or nothing.
INSERT_HEAD = re.compile(
    rb"(\s*INSERT\b(?:(?!\bVALUES\b|\bSELECT\b).)*?\bFORMAT\s+\w+)(?:[ \t]*\r?\n|[ \t]+|$)",
    re.I | re.S,
)


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, engine: Engine, user: str, password: str, log_path: str | None):
        super().__init__(address, Handler)
        self.engine = engine
        self.user = user
        self.password = password
        self.display_name = "clickhouse-http-stand-in"
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self._log_lock = threading.Lock()

    def record(self, entry: dict) -> None:
        if self._log is None:
            return
        with self._log_lock:
            self._log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInServer

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._handle()

    def do_POST(self):  # noqa: N802
        self._handle()

    def log_message(self, format, *args):  # noqa: A002 - the request log replaces this
        pass

    def _handle(self) -> None:
        url = urlsplit(self.path)
        parameters = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = parameters.get("query_id") or str(uuid.uuid4())
        entry = {
            "started": time.time(),
            "method": self.command,
            "path": url.path,
            "parameters": wire.redacted_parameters(parameters),
            "headers": wire.redacted_headers(self.headers),
            "query_id": query_id,
        }

        # The entry is recorded before the response goes out, so a client that has its answer
        # finds its request in the log (tests read the log right after a call).
        def answered(status: int, **more) -> None:
            entry.update(status=status, finished=time.time(), **more)
            self.server.record(entry)

        try:
            body = wire.read_body(self.rfile, self.headers)
            if url.path == "/ping" or (
                url.path == "/" and self.command == "GET" and "query" not in parameters
            ):
                answered(200)
                self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
                return
            if url.path != "/":
                raise QueryError(
                    1001, "", f"There is no handle {url.path}. Use / or /ping (stand-in)"
                )
            query = self._query(parameters, body, entry)
            result = self.server.engine.execute(query)
            answered(200)
            self._send_result(result, query_id)
        except QueryError as error:
            status = wire.status_for(error.name)
            headers = {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(error.code),
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Server-Display-Name": self.server.display_name,
            }
            if status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="ClickHouse server HTTP API"'
            answered(status, exception_code=error.code)
            self._send(status, error.text(self.server.engine.version).encode(), headers)
        finally:
            if "finished" not in entry:  # an unexpected error: still one entry per request
                answered(500)

    def _query(self, parameters: dict[str, str], body: bytes, entry: dict) -> Query:
        user, password = wire.credentials(self.headers, parameters)
        entry["user"] = user
        if user != self.server.user or password != self.server.password:
            raise QueryError(
                516,
                "AUTHENTICATION_FAILED",
                f"{user}: Authentication failed: password is incorrect, "
                "or there is no user with such name.",
            )
        try:
            body = wire.decode_body(body, self.headers.get("Content-Encoding"))
        except Exception as error:
            raise QueryError(
                354, "CANNOT_DECOMPRESS", f"Cannot decompress the request body: {error}"
            ) from None
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            fields, files = wire.multipart_fields(body, content_type)
            if files:
                raise QueryError(48, "NOT_IMPLEMENTED", "external tables (stand-in)")
            parameters = {**parameters, **fields}
            body = b""
        for flag in ("compress", "decompress"):
            if parameters.get(flag, "0") not in ("0", ""):
                raise QueryError(48, "NOT_IMPLEMENTED", f"{flag}=1 (stand-in)")

        url_query = parameters.get("query", "").encode()
        text = url_query + b"\n" + body if url_query and body else url_query or body
        # An INSERT's data follows its `FORMAT x` (in the body, the query in the URL or before it).
        head = INSERT_HEAD.match(text)
        insert_data = text[head.end() :] if head else None
        try:
            sql = (head.group(1) if head else text).decode()
        except UnicodeDecodeError:
            raise QueryError(
                27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "the query is not valid UTF-8"
            ) from None
        if not sql.strip():
            raise QueryError(62, "SYNTAX_ERROR", "Empty query")
        entry["sql"] = sql
        entry["insert_data_bytes"] = len(insert_data) if insert_data is not None else None

        output_format = parameters.get("default_format") or "TabSeparated"
        trailing = TRAILING_FORMAT.search(sql)
        if trailing and insert_data is None:
            output_format = trailing.group(1)
        settings = {
            name: value
            for name, value in parameters.items()
            if name not in wire.TRANSPORT_PARAMETERS and not name.startswith("param_")
        }
        if self.command == "GET" and settings.get("readonly") != "1":
            settings["readonly"] = "2"  # a GET request is read-only on a server
        try:
            session_timeout = int(parameters.get("session_timeout", DEFAULT_SESSION_TIMEOUT))
        except ValueError:
            raise QueryError(374, "INVALID_SESSION_TIMEOUT", "Invalid session timeout") from None
        return Query(
            sql=sql,
            output_format=output_format,
            user=user,
            database=parameters.get("database") or None,
            settings=settings,
            parameters={
                name[len("param_") :]: value
                for name, value in parameters.items()
                if name.startswith("param_")
            },
            session_id=parameters.get("session_id") or None,
            session_timeout=session_timeout,
            session_check=parameters.get("session_check") == "1",
            close_session=parameters.get("close_session") == "1",
            insert_data=insert_data,
        )

    def _send_result(self, result, query_id: str) -> None:
        headers = {
            "Content-Type": wire.content_type(result.output_format),
            "X-ClickHouse-Format": result.output_format,
            "X-ClickHouse-Timezone": self.server.engine.timezone,
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Server-Display-Name": self.server.display_name,
            "X-ClickHouse-Summary": json.dumps(
                {
                    "read_rows": str(result.rows_read),
                    "read_bytes": str(result.bytes_read),
                    "written_rows": "0",
                    "written_bytes": "0",
                    "total_rows_to_read": str(result.rows_read),
                    "result_rows": "0",
                    "result_bytes": str(len(result.data)),
                }
            ),
        }
        data = result.data
        encoding = wire.choose_encoding(self.headers.get("Accept-Encoding", ""))
        if encoding and result.compress_allowed:
            data = wire.COMPRESSORS[encoding](data)
            headers["Content-Encoding"] = encoding
        self._send(200, data, headers)

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="chdb data directory")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--user", default="default")
    parser.add_argument("--log", help="request log (JSON lines), credentials redacted")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM) ...")
    parser.add_argument("--tls-key", help="... and this key")
    args = parser.parse_args(argv)
    password = os.environ.get("CLICKHOUSE_HTTP_PASSWORD", "")

    engine = Engine(args.data)
    server = StandInServer(("127.0.0.1", args.port), engine, args.user, password, args.log)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
