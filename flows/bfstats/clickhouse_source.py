"""Reading from ClickHouse: the embedded engine (chdb) or a server over HTTP (clickhouse-connect).

Both stream a query's result as Arrow record batches without holding it in memory, and both
bind values as ClickHouse server-side parameters (`{name:Type}` in the SQL).

The server's client is made by dbt-clickhouse's own code from dbt's own credentials object, so the
extractor honours exactly the profile settings dbt does (TLS verify and client certificates,
timeouts, compression, custom_settings, ...). Failures become one readable line: an unreachable
server names its URL, the cause and what to check; a refused login names the user; a server
exception keeps ClickHouse's `Code: N. DB::Exception: ...` line and the query's name.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import socket
import ssl
from collections.abc import Iterator

import pyarrow as pa

from bfstats.config import Target
from bfstats.errors import BfstatsError

# ClickHouse's codes for a login it refuses: UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD,
# AUTHENTICATION_FAILED.
AUTHENTICATION_CODES = {192, 193, 194, 516}
CHECK_ADDRESS = (
    "check BFSTATS_CH_HOST, BFSTATS_CH_PORT and BFSTATS_CH_SECURE, and that the server runs"
)
CHECK_LOGIN = "check BFSTATS_CH_USER / BFSTATS_CH_PASSWORD"
SERVER_EXCEPTION = re.compile(r"Code: (\d+)\. DB::Exception: [^\n]*")
# clickhouse-connect's wrapping of a server exception, and the trailers of the line itself.
CLIENT_PREFIX = re.compile(r"Received ClickHouse exception, code: \d+, server response: ")
# clickhouse-connect's text for an HTTP error without a ClickHouse exception code.
NOT_CLICKHOUSE = re.compile(r"HTTP driver received HTTP status (\d+)")
TRAILERS = re.compile(r"(?:\s*\(version [^()\n]*(?:\([^()\n]*\))?\)|\s*\(for url [^)\n]*\))+\s*$")
# Loggers that would print urllib3's retry chatter and a client warning for every failed request.
NOISY_LOGGERS = ("urllib3.connectionpool", "clickhouse_connect.driver._backend.http_sync")


class ClickHouseError(BfstatsError, RuntimeError):
    """A query failed; the message names the query."""

    kind = "ClickHouse error"


class ClickHouseUnreachable(ClickHouseError):
    """No HTTP(S) answer from the server: refused, timed out, unknown host, TLS."""


class ClickHouseAuthenticationError(ClickHouseError):
    """The server refused the profile's user and password."""


class EmbeddedSource:
    """Sessions on this process's chdb engine (the one dbt uses)."""

    # The extraction of a mart reads it in key order while SQLite writes far slower than
    # ClickHouse reads: one thread, small blocks and no read-ahead buffers are all it needs, and
    # the engine's memory is this process's (PlayerMapStats at scale 1: 130 MB instead of 300,
    # while the next mart builds and its tests run beside it). A server keeps its own defaults.
    EXTRACT_SETTINGS = {"max_threads": 1, "max_block_size": 8192, "read_in_order_use_buffering": 0}

    def __init__(self, target: Target):
        from dbt.adapters.chdb import engine

        self.target = target
        self._session = engine.connect(target.path)

    def check(self) -> None:
        """Nothing to reach: the engine runs in this process."""

    def stream(self, name: str, sql: str, parameters: dict, rows_per_batch: int):
        stream = self._session.send_query(sql, "Arrow", params=_as_text(parameters))
        try:
            yield from stream.record_batch(rows_per_batch=rows_per_batch)
        except Exception as error:
            raise ClickHouseError(f"query {name} failed: {error}") from error
        finally:
            stream.close()

    def scalar(self, name: str, sql: str, parameters: dict):
        try:
            result = self._session.query(sql, "ArrowStream", params=_as_text(parameters))
        except Exception as error:
            raise ClickHouseError(f"query {name} failed: {error}") from error
        table = pa.ipc.open_stream(result.bytes()).read_all()
        return table.column(0)[0].as_py()

    def rows(self, name: str, sql: str, parameters: dict) -> list[tuple]:
        """All rows of a small result."""
        return [
            row for block in rows_of(self.stream(name, sql, parameters, 65_536)) for row in block
        ]

    def close(self) -> None:
        self._session.close()


class ServerSource:
    """A ClickHouse server over HTTP(S), with the profile's credentials. Connecting runs
    clickhouse-connect's probes (version, timezone, settings), so a source that opened has
    reached the server and logged in."""

    def __init__(self, target: Target):
        self.target = target
        self._client = connect(target)

    def check(self) -> None:
        """Reach the server again (e.g. right before a long step); raises like connecting does.
        Runs outside the models' database, which dbt creates when it does not exist yet."""
        try:
            self._client.command("SELECT 1", use_database=False)
        except Exception as error:
            raise server_error(error, self.target, "connectivity check") from None

    def stream(self, name: str, sql: str, parameters: dict, rows_per_batch: int):
        # The server sends blocks of its own size; the loader regroups them into batches.
        try:
            with self._client.query_arrow_stream(sql, parameters=parameters) as batches:
                yield from batches
        except Exception as error:
            raise server_error(error, self.target, name) from None

    def rows(self, name: str, sql: str, parameters: dict) -> list[tuple]:
        """All rows of a small result."""
        try:
            return [
                tuple(row) for row in self._client.query(sql, parameters=parameters).result_rows
            ]
        except Exception as error:
            raise server_error(error, self.target, name) from None

    def scalar(self, name: str, sql: str, parameters: dict):
        try:
            return self._client.command(sql, parameters=parameters)
        except Exception as error:
            raise server_error(error, self.target, name) from None

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"ServerSource({self.target.describe()})"


def open_source(target: Target) -> EmbeddedSource | ServerSource:
    """The source for the profile's target; a server is reached and logged into here, so call
    this before dbt runs to fail early with a readable ClickHouseError."""
    if target.kind == "chdb":
        return EmbeddedSource(target)
    return ServerSource(target)


def check_server(target: Target) -> None:
    """Raise ClickHouseUnreachable / ClickHouseAuthenticationError / ClickHouseError when the
    profile's server cannot be used; nothing for the embedded engine."""
    if target.kind != "chdb":
        open_source(target).close()


def connect(target: Target):
    """A clickhouse-connect client for the `prod` profile, built the way dbt-clickhouse builds its
    own: its ChClientWrapper assembles the connection settings (custom_settings and the settings
    it always sends) and its ChHttpClient._create_client maps every credentials field to
    clickhouse_connect.get_client. dbt's own connection probes (creating the schema, testing
    EXCHANGE TABLES and lightweight deletes) are for its materializations and are skipped."""
    quiet_client_logs()
    credentials = target.credentials
    if (credentials.driver or "http") != "http":
        raise ClickHouseError(
            f"the dbt target {target.name} uses driver {credentials.driver}; the extractor reads "
            "over HTTP(S): set `driver: http` in profiles.yml"
        )
    try:
        client = _extractor_connection()(_with_port(credentials))._client
    except Exception as error:
        raise server_error(error, target, "connect") from None
    # A session runs one query at a time; the extractor may count one table while it streams
    # another, and needs no session state.
    client.params.pop("session_id", None)
    client.headers["User-Agent"] = client.headers["User-Agent"].replace(
        "dbt-adapters/", "bfstats-backfill dbt-adapters/", 1
    )
    return client


@functools.cache
def _extractor_connection():
    from dbt.adapters.clickhouse.httpclient import ChHttpClient

    class ExtractorConnection(ChHttpClient):
        def _ensure_database(self, database_engine, cluster_name) -> None:
            self._set_client_database()

        def _check_lightweight_deletes(self, requested: bool):
            return False, False

        def _check_atomic_exchange(self) -> bool:
            return True

    return ExtractorConnection


def _with_port(credentials):
    """dbt-clickhouse's default port (get_db_client), on a copy: dbt sets it on its own copy."""
    credentials = copy.copy(credentials)
    if not credentials.port:
        credentials.port = 8443 if credentials.secure else 8123
    return credentials


def server_error(error: BaseException, target: Target, query: str) -> ClickHouseError:
    """One line for a failure talking to the server: unreachable, login refused, or the server's
    own exception (its first line) with the query's name."""
    if isinstance(error, ClickHouseError):
        return error
    unreachable = _unreachable_cause(error)
    if unreachable:
        return ClickHouseUnreachable(
            f"ClickHouse at {target.url} is unreachable ({unreachable}); {CHECK_ADDRESS}"
        )
    code = _exception_code(error)
    if code in AUTHENTICATION_CODES:
        return ClickHouseAuthenticationError(
            f"ClickHouse at {target.url} rejected user {target.user}: wrong password or no such "
            f"user; {CHECK_LOGIN}"
        )
    return ClickHouseError(f"query {query} failed: {server_message(str(error))}")


def server_message(text: str) -> str:
    """ClickHouse's `Code: N. DB::Exception: ...` line out of a client's error text, without
    the version and URL trailers; the text's first line when it holds none."""
    match = SERVER_EXCEPTION.search(text)
    line = match.group(0) if match else (text.strip().splitlines() or [""])[0]
    return TRAILERS.sub("", line).strip()


def shorten_dbt_error(text: str, target: Target) -> str:
    """dbt-clickhouse's text for a failed connection or query (urllib3's retry text, the
    client's `Received ClickHouse exception ... (for url ...)`) as the line the extractor would
    give; text without either is returned unchanged."""
    lowered = text.lower()
    for needle, cause in _UNREACHABLE_TEXT:
        if needle in lowered:
            return f"ClickHouse at {target.url} is unreachable ({cause}); {CHECK_ADDRESS}"
    match = SERVER_EXCEPTION.search(text)
    if match and int(match.group(1)) in AUTHENTICATION_CODES:
        return (
            f"ClickHouse at {target.url} rejected user {target.user}: wrong password or no such "
            f"user; {CHECK_LOGIN}"
        )
    return SERVER_EXCEPTION.sub(
        lambda m: TRAILERS.sub("", m.group(0)).strip(), CLIENT_PREFIX.sub("", text)
    )


_UNREACHABLE_TEXT = (
    ("connection refused", "connection refused"),
    ("nameresolutionerror", "host name not found in DNS"),
    ("name or service not known", "host name not found in DNS"),
    ("connecttimeouterror", "connection timed out"),
    ("readtimeouterror", "no answer within the timeout (send_receive_timeout)"),
    ("sslerror", "TLS handshake failed"),
    ("remotedisconnected", "the server closed the connection"),
    ("connection reset", "the server closed the connection"),
)


def _unreachable_cause(error: BaseException) -> str | None:
    """Why the HTTP request got no answer, from the exceptions chained under the client's."""
    from urllib3 import exceptions as http

    chain = _chain(error)

    def found(*kinds):
        return next((item for item in chain if isinstance(item, kinds)), None)

    if found(ConnectionRefusedError):
        return "connection refused"
    if found(http.NameResolutionError, socket.gaierror):
        return "host name not found in DNS"
    if found(ssl.SSLError, http.SSLError):
        tls = found(ssl.SSLError)
        reason = str(tls.args[1]) if tls is not None and len(tls.args) > 1 else ""
        reason = re.sub(r"\s*\(_ssl\.c:\d+\)", "", reason)
        return f"TLS handshake failed: {reason}" if reason else "TLS handshake failed"
    if found(http.NewConnectionError):  # a subclass of ConnectTimeoutError
        return "cannot connect"
    if found(http.ConnectTimeoutError):
        return "connection timed out"
    if found(http.ReadTimeoutError, TimeoutError):
        return "no answer within the timeout (send_receive_timeout)"
    if found(http.ProtocolError, ConnectionResetError, BrokenPipeError):
        return "the server closed the connection"
    status = NOT_CLICKHOUSE.search(str(error))
    if status:
        return (
            f"it answered HTTP {status.group(1)} without a ClickHouse error: another service or a "
            "proxy at that address"
        )
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """The error, its causes and contexts, and urllib3's retry reasons."""
    from urllib3.exceptions import MaxRetryError

    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        if isinstance(error, MaxRetryError) and error.reason is not None:
            chain.extend(_chain(error.reason))
        error = error.__cause__ or error.__context__
    return chain


def _exception_code(error: BaseException) -> int | None:
    for item in _chain(error):
        code = getattr(item, "code", None)
        if isinstance(code, int):
            return code
        match = SERVER_EXCEPTION.search(str(item))
        if match:
            return int(match.group(1))
    return None


def quiet_client_logs() -> None:
    """Keep urllib3's retry warnings and clickhouse-connect's "Unexpected Http Driver Exception"
    off the console (for dbt's connections in this process too): the error itself is reported."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _as_text(parameters: dict) -> dict:
    # chdb binds parameters from their text form, like the HTTP interface's param_ arguments.
    return {name: str(value) for name, value in parameters.items()}


def rows_of(batches: Iterator[pa.RecordBatch]) -> Iterator[list[tuple]]:
    """Arrow batches as lists of Python tuples (column-wise conversion, then zip)."""
    for batch in batches:
        if batch.num_rows:
            yield list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
