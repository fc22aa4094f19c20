"""The stand-in's engine side: one chdb engine on one data directory, ClickHouse sessions on it.

A chdb connection is a ClickHouse session: its `SET`s, `USE` and temporary tables are its own,
and several connections to the one directory of this process run queries concurrently (checked
on chdb-core 26.9). A request without a session gets a fresh connection that is closed after it.
Settings given with a request apply to that query only, as on a server: on a session's connection
they are set before the query and the previous values restored after it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field

import chdb

SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EXCEPTION_TEXT = re.compile(r"Code: (\d+)\. DB::Exception: (.*?)(?: \(([A-Z_0-9]+)\))?\s*$", re.S)
# Statements a readonly session may run (readonly=2 also allows SET).
READ_ONLY_STATEMENTS = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"}
DEFAULT_SESSION_TIMEOUT = 60


class QueryError(Exception):
    """A ClickHouse exception: its code, its name and its message."""

    def __init__(self, code: int, name: str, message: str):
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    @classmethod
    def from_engine(cls, error: Exception) -> QueryError:
        text = str(error).strip()
        text = text[text.find("Code: ") :] if "Code: " in text else text
        match = EXCEPTION_TEXT.match(text)
        if not match:
            return cls(1001, "STD_EXCEPTION", text)
        return cls(int(match.group(1)), match.group(3) or "", match.group(2))

    def text(self, version: str) -> str:
        """The body of a server's error response."""
        name = f" ({self.name})" if self.name else ""
        return f"Code: {self.code}. DB::Exception: {self.message}{name} (version {version})\n"


@dataclass
class Query:
    """One request, as the HTTP layer has understood it."""

    sql: str
    output_format: str
    user: str
    database: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    session_id: str | None = None
    session_timeout: int = DEFAULT_SESSION_TIMEOUT
    session_check: bool = False
    close_session: bool = False
    insert_data: bytes | None = None  # the data after an `INSERT ... FORMAT x`


@dataclass
class Result:
    data: bytes
    output_format: str
    rows_read: int = 0
    bytes_read: int = 0
    compress_allowed: bool = True  # the query's effective enable_http_compression


class Session:
    def __init__(self, connection, timeout: int):
        self.connection = connection
        self.timeout = timeout
        self.lock = threading.Lock()
        self.last_used = time.monotonic()


class Engine:
    """chdb on `path` for the whole process; sessions keyed by (user, session_id)."""

    def __init__(self, path: str):
        self.path = path
        # Held for the life of the process, so the engine is not started again for every request.
        self._anchor = chdb.connect(path)
        row = self._anchor.query("SELECT version(), timezone()", "TabSeparated").bytes()
        self.version, self.timezone = row.decode().strip().split("\t")
        self._sessions: dict[tuple[str, str], Session] = {}
        self._sessions_lock = threading.Lock()
        self._scratch = tempfile.mkdtemp(prefix="clickhouse-http-")

    def execute(self, query: Query) -> Result:
        if query.session_id is None:
            connection = chdb.connect(self.path)
            try:
                return self._run(connection, query, restore=False)
            finally:
                connection.close()
        session = self._session(query)
        if not session.lock.acquire(blocking=False):
            raise QueryError(
                373,
                "SESSION_IS_LOCKED",
                f"Session {query.session_id} is locked by a concurrent client.",
            )
        try:
            return self._run(session.connection, query, restore=True)
        finally:
            session.last_used = time.monotonic()
            session.lock.release()
            if query.close_session:
                self._close_session(query.user, query.session_id)

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions.values():
                session.connection.close()
            self._sessions.clear()
        self._anchor.close()

    def _session(self, query: Query) -> Session:
        key = (query.user, query.session_id)
        with self._sessions_lock:
            now = time.monotonic()
            for other_key, other in list(self._sessions.items()):
                idle = now - other.last_used
                if other_key != key and idle > other.timeout and not other.lock.locked():
                    other.connection.close()
                    del self._sessions[other_key]
            session = self._sessions.get(key)
            if session is None:
                if query.session_check:
                    raise QueryError(372, "SESSION_NOT_FOUND", "Session not found.")
                session = Session(chdb.connect(self.path), query.session_timeout)
                self._sessions[key] = session
            session.timeout = query.session_timeout
            return session

    def _close_session(self, user: str, session_id: str) -> None:
        with self._sessions_lock:
            session = self._sessions.pop((user, session_id), None)
        if session is not None:
            session.connection.close()

    def _run(self, connection, query: Query, restore: bool) -> Result:
        settings = dict(query.settings)
        readonly = settings.pop("readonly", None)
        statement = _first_word(query.sql)
        previous_database = None
        previous_settings: dict[str, str] = {}
        if restore:
            previous_database = _scalar(connection, "SELECT currentDatabase()")
            previous_settings = _current_settings(connection, settings)
        try:
            if query.database:
                _call(connection, f"USE {_quote_identifier(query.database)}")
            for name, value in settings.items():
                _call(connection, f"SET {_setting(name)} = {_quote(value)}")
            if readonly not in (None, "0"):
                if restore:
                    # `readonly` cannot be unset on a connection, and a session's must outlive the
                    # query: check the statement kind instead.
                    _check_read_only(statement, readonly, query.user)
                else:
                    _call(connection, f"SET readonly = {_quote(readonly)}")
            compress_allowed = _scalar(connection, "SELECT getSetting('enable_http_compression')")
            result = self._query(connection, query)
            result.compress_allowed = compress_allowed not in ("0", "false")
            return result
        finally:
            if restore:
                self._restore(connection, query, statement, previous_settings, previous_database)

    def _restore(self, connection, query, statement, settings, database) -> None:
        """Put back what the request's URL changed in its session (best effort: a query may
        have dropped the session's database). A SET or USE statement's own change stays."""
        kept = _names_set(query.sql) if statement == "SET" else set()
        restores = [
            f"SET {_setting(name)} = {_quote(value)}"
            for name, value in settings.items()
            if name not in kept
        ]
        if query.database and statement != "USE":
            restores.append(f"USE {_quote_identifier(database)}")
        for sql in restores:
            with contextlib.suppress(QueryError):
                _call(connection, sql)

    def _query(self, connection, query: Query) -> Result:
        sql = query.sql
        data_file = None
        if query.insert_data is not None:
            # The data of an INSERT sent in the body, in the format its query names.
            handle, data_file = tempfile.mkstemp(dir=self._scratch)
            with os.fdopen(handle, "wb") as out:
                out.write(query.insert_data)
            sql = re.sub(
                r"\bFORMAT\s+(\w+)\s*;?\s*$",
                lambda m: f"FROM INFILE {_quote(data_file)} FORMAT {m.group(1)}",
                sql,
                flags=re.I,
            )
        try:
            outcome = connection.query(sql, query.output_format, params=query.parameters)
        except Exception as error:
            raise QueryError.from_engine(error) from None
        finally:
            if data_file:
                os.unlink(data_file)
        return Result(
            outcome.bytes() or b"",
            query.output_format,
            rows_read=_attribute(outcome, "rows_read"),
            bytes_read=_attribute(outcome, "bytes_read"),
        )


def _call(connection, sql: str) -> None:
    try:
        connection.query(sql)
    except Exception as error:
        raise QueryError.from_engine(error) from None


def _scalar(connection, sql: str) -> str:
    try:
        return connection.query(sql, "TabSeparatedRaw").bytes().decode().strip()
    except Exception as error:
        raise QueryError.from_engine(error) from None


def _current_settings(connection, settings: dict[str, str]) -> dict[str, str]:
    """The session's values of the settings a request is about to change."""
    current = {}
    for name in settings:
        current[name] = _scalar(connection, f"SELECT getSetting({_quote(_setting(name))})")
    return current


def _check_read_only(statement: str, readonly: str, user: str) -> None:
    allowed = READ_ONLY_STATEMENTS | ({"SET"} if readonly == "2" else set())
    if statement not in allowed:
        raise QueryError(164, "READONLY", f"{user}: Cannot execute query in readonly mode.")


def _names_set(sql: str) -> set[str]:
    """The setting names a `SET a = 1, b = 'x'` statement assigns (good enough for tests)."""
    body = re.sub(r"^\s*SET\s+", "", sql, flags=re.I)
    return set(re.findall(r"(?:^|,)\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s*=", body))


def _first_word(sql: str) -> str:
    text = re.sub(r"^(\s+|--[^\n]*\n|/\*.*?\*/)*", "", sql, flags=re.S)
    match = re.match(r"\(*\s*([A-Za-z]+)", text)
    return match.group(1).upper() if match else ""


def _setting(name: str) -> str:
    if not SETTING_NAME.match(name):
        raise QueryError(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'.")
    return name


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _attribute(outcome, name: str) -> int:
    try:
        return int(getattr(outcome, name)())
    except Exception:
        return 0
