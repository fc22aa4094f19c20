"""The stand-in's HTTP side that is not about the engine: request bodies (chunked, compressed,
multipart), response compression, credentials, status codes, and the request log's redaction."""

from __future__ import annotations

import base64
import gzip
import zlib
from email.parser import BytesParser
from email.policy import HTTP

import lz4.frame
from backports import zstd

# URL parameters the HTTP interface consumes itself; every other one is a setting (ClickHouse's
# HTTPHandler: reserved names, `database`, `default_format`, `query`, and the `param_` prefix).
TRANSPORT_PARAMETERS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "stacktrace",
        "role",
        "buffer_size",
        "wait_end_of_query",
        "session_id",
        "session_timeout",
        "session_check",
        "close_session",
        "client_protocol_version",
        "compress",
        "decompress",
    }
)
# The server's preference when a client accepts several (ClickHouse's chooseHTTPCompressionMethod;
# br, snappy, xz and bz2 are not available here).
RESPONSE_ENCODINGS = ("zstd", "lz4", "gzip", "deflate")
COMPRESSORS = {
    "zstd": zstd.compress,
    "lz4": lz4.frame.compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}
DECOMPRESSORS = {
    "zstd": zstd.decompress,
    "lz4": lz4.frame.decompress,
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
}
# ClickHouse's exceptionCodeToHTTPStatus, by exception name.
STATUS_BY_NAME = {
    "REQUIRED_PASSWORD": 401,
    "UNKNOWN_USER": 403,
    "WRONG_PASSWORD": 403,
    "AUTHENTICATION_FAILED": 403,
    "SET_NON_GRANTED_ROLE": 403,
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 504,
}
BAD_REQUEST_NAMES = {
    "SYNTAX_ERROR",
    "INCORRECT_DATA",
    "TYPE_MISMATCH",
    "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    "UNKNOWN_ELEMENT_IN_AST",
    "UNKNOWN_TYPE_OF_AST_NODE",
    "TOO_DEEP_AST",
    "TOO_BIG_AST",
    "UNEXPECTED_AST_STRUCTURE",
    "BAD_REQUEST_PARAMETER",
    "INVALID_SESSION_TIMEOUT",
}
NOT_FOUND_NAMES = {
    "UNKNOWN_TABLE",
    "UNKNOWN_FUNCTION",
    "UNKNOWN_IDENTIFIER",
    "UNKNOWN_TYPE",
    "UNKNOWN_STORAGE",
    "UNKNOWN_DATABASE",
    "UNKNOWN_SETTING",
    "UNKNOWN_DIRECTION_OF_SORTING",
    "UNKNOWN_AGGREGATE_FUNCTION",
    "UNKNOWN_FORMAT",
    "UNKNOWN_DATABASE_ENGINE",
    "UNKNOWN_TYPE_OF_QUERY",
    "UNKNOWN_ROLE",
}
CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "TabSeparatedRaw": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}
TEXT_FORMATS = {"Pretty", "PrettyCompact", "Vertical", "Values", "Markdown"}
REDACTED = "<redacted>"
CREDENTIAL_HEADERS = {"authorization", "x-clickhouse-key"}


def status_for(name: str) -> int:
    if name in STATUS_BY_NAME:
        return STATUS_BY_NAME[name]
    if name in BAD_REQUEST_NAMES or name.startswith("CANNOT_PARSE"):
        return 400
    if name in NOT_FOUND_NAMES:
        return 404
    return 500


def content_type(output_format: str) -> str:
    if output_format in CONTENT_TYPES:
        return CONTENT_TYPES[output_format]
    if output_format in TEXT_FORMATS:
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


def read_body(rfile, headers) -> bytes:
    """The request body, chunked or sized."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        parts = []
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline()
    length = int(headers.get("Content-Length") or 0)
    return rfile.read(length) if length else b""


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """A request body sent with `Content-Encoding`, decompressed (ClickHouse does it always)."""
    encoding = (encoding or "").strip().lower()
    if not encoding or encoding == "identity" or not body:
        return body
    if encoding not in DECOMPRESSORS:
        raise ValueError(f"Unknown HTTP request Content-Encoding: {encoding}")
    return DECOMPRESSORS[encoding](body)


def multipart_fields(body: bytes, content_type_header: str) -> tuple[dict[str, str], list[str]]:
    """Plain form fields (query, param_*) and the names of file parts (external tables)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type_header}\r\n\r\n".encode() + body
    )
    fields, files = {}, []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            files.append(name)
        else:
            fields[name] = part.get_payload(decode=True).decode()
    return fields, files


def choose_encoding(accept_encoding: str) -> str | None:
    """The response encoding for an `Accept-Encoding` list (q=0 refuses one)."""
    offered = {}
    for item in accept_encoding.split(","):
        token, _, rest = item.strip().partition(";")
        quality = 1.0
        if rest.strip().lower().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        if token:
            offered[token.strip().lower()] = quality
    for encoding in RESPONSE_ENCODINGS:
        if offered.get(encoding, offered.get("*", 0.0)) > 0:
            return encoding
    return None


def credentials(headers, parameters: dict[str, str]) -> tuple[str, str]:
    """(user, password) the way the HTTP interface takes them: basic auth, the X-ClickHouse-User
    and X-ClickHouse-Key headers, or the user and password parameters; else `default`."""
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("basic "):
        decoded = base64.b64decode(authorization[6:].strip()).decode()
        user, _, password = decoded.partition(":")
        return user, password
    if "X-ClickHouse-User" in headers:
        return headers["X-ClickHouse-User"], headers.get("X-ClickHouse-Key", "")
    return parameters.get("user", "default"), parameters.get("password", "")


def redacted_headers(headers) -> dict[str, str]:
    return {
        name: (REDACTED if name.lower() in CREDENTIAL_HEADERS else value)
        for name, value in headers.items()
    }


def redacted_parameters(parameters: dict[str, str]) -> dict[str, str]:
    return {name: (REDACTED if name == "password" else v) for name, v in parameters.items()}
