"""The test-only ClickHouse HTTP stand-in (tests/clickhouse_http) behaves as a server does for
what clickhouse-connect and dbt-clickhouse use: sessions, settings, parameters, formats, errors,
authentication, compression and concurrent requests. Driven with the real clickhouse-connect and
with plain HTTP where the wire itself is the point."""

from __future__ import annotations

import base64
import gzip
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from support import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(clickhouse_server):
    if clickhouse_server.real:
        pytest.skip("tests of the stand-in itself")
    return clickhouse_server


def http(server, sql="", method="POST", headers=None, auth=True, **parameters):
    """(status, headers, body) of one raw request."""
    url = f"http://{server.host}:{server.port}/?{urllib.parse.urlencode(parameters)}"
    data = sql.encode() if isinstance(sql, str) else sql
    request = urllib.request.Request(url, data=data if method == "POST" else None, method=method)
    if auth:
        token = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_ping_and_version_probe(server):
    assert http(server, method="GET", auth=False)[2] == b"Ok.\n"
    client = server.client()
    assert client.server_version.count(".") >= 2
    assert client.command("SELECT 1") == 1


def test_session_state_persists_and_stays_in_its_session(server):
    session = server.client()
    session.command("CREATE DATABASE IF NOT EXISTS standin_sessions")
    session.command("SET max_threads = 3")
    session.command("USE standin_sessions")
    session.command("CREATE TEMPORARY TABLE scratch (n UInt8)")
    session.command("INSERT INTO scratch VALUES (7)")
    assert session.command("SELECT getSetting('max_threads')") == 3
    assert session.command("SELECT currentDatabase()") == "standin_sessions"
    assert session.command("SELECT n FROM scratch") == 7

    other = server.client()  # another session
    sessionless = server.client(autogenerate_session_id=False)
    for client in (other, sessionless):
        assert client.command("SELECT getSetting('max_threads')") != 3
        assert client.command("SELECT currentDatabase()") == "default"
        with pytest.raises(DatabaseError) as missing:
            client.command("SELECT n FROM scratch")
        assert missing.value.code == 60  # UNKNOWN_TABLE


def test_requests_without_a_session_are_independent(server):
    client = server.client(autogenerate_session_id=False)
    client.command("SET max_threads = 3")  # accepted, then gone with its connection
    assert client.command("SELECT getSetting('max_threads')") != 3


def test_url_settings_apply_to_one_query_only(server):
    session = server.client()
    assert session.command("SELECT getSetting('max_threads')", settings={"max_threads": 5}) == 5
    assert session.command("SELECT getSetting('max_threads')") != 5
    status, headers, body = http(server, "SELECT 1", max_threads="x_not_a_number")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "27"), body
    status, headers, body = http(server, "SELECT 1", no_such_setting="1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "115"), body
    assert b"(UNKNOWN_SETTING)" in body


def test_session_settings_and_database_from_the_url_do_not_stick(server):
    session_id = str(uuid.uuid4())
    server.client().command("CREATE DATABASE IF NOT EXISTS standin_url_db")
    current = "SELECT currentDatabase(), getSetting('max_threads') FORMAT TSV"
    first = http(server, current, session_id=session_id, database="standin_url_db", max_threads=4)
    assert first[2] == b"standin_url_db\t4\n"
    assert http(server, current, session_id=session_id)[2] != b"standin_url_db\t4\n"


def test_a_session_runs_one_query_at_a_time(server):
    session_id = str(uuid.uuid4())
    marker = f"slow-{uuid.uuid4().hex}"
    answers = {}

    def slow():
        answers["slow"] = http(server, f"SELECT sleep(2), '{marker}'", session_id=session_id)

    thread = threading.Thread(target=slow)
    thread.start()
    running = (
        "SELECT count() FROM system.processes "
        f"WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.processes%'"
    )
    wait_for(lambda: http(server, running)[2] == b"1\n", 10, what="the slow query to run")
    status, headers, body = http(server, "SELECT 1", session_id=session_id)
    thread.join()
    assert answers["slow"][0] == 200
    assert headers["X-ClickHouse-Exception-Code"] == "373", body
    assert b"(SESSION_IS_LOCKED)" in body
    assert http(server, "SELECT 1", session_id=session_id)[2] == b"1\n"  # free again


def test_session_check_and_close(server):
    session_id = str(uuid.uuid4())
    status, headers, body = http(server, "SELECT 1", session_id=session_id, session_check=1)
    assert headers["X-ClickHouse-Exception-Code"] == "372", body
    http(server, "SET max_threads = 3", session_id=session_id)
    check = "SELECT getSetting('max_threads')"
    assert http(server, check, session_id=session_id, session_check=1)[2] == b"3\n"
    http(server, "SELECT 1", session_id=session_id, close_session=1)
    status, headers, body = http(server, check, session_id=session_id, session_check=1)
    assert headers["X-ClickHouse-Exception-Code"] == "372", body


def test_readonly(server):
    create = "CREATE TABLE IF NOT EXISTS standin_ro (n UInt8) ENGINE = Memory"
    for session in ({}, {"session_id": str(uuid.uuid4())}):
        status, headers, body = http(server, create, readonly=1, **session)
        assert headers["X-ClickHouse-Exception-Code"] == "164", body
        assert b"(READONLY)" in body
        assert http(server, "SELECT 1", readonly=1, **session)[2] == b"1\n"
    # A GET request is read-only, as on a server.
    status, headers, body = http(server, method="GET", query=create)
    assert headers["X-ClickHouse-Exception-Code"] == "164", body
    assert http(server, method="GET", query="SELECT 2")[2] == b"2\n"


def test_parameters_in_the_url_and_in_a_form(server):
    client = server.client()
    odd = 'it\'s "quoted" \\ and émoji 🎉'
    rows = client.query("SELECT {s:String} AS s, {n:UInt64} AS n", parameters={"s": odd, "n": 7})
    assert rows.result_rows == [(odd, 7)]
    # Long values go as multipart/form-data (clickhouse-connect's rule), still bound server-side.
    long = "x" * 5000
    assert client.query("SELECT length({s:String})", parameters={"s": long}).result_rows == [
        (5000,)
    ]
    assert any(
        entry.get("headers", {}).get("Content-Type", "").startswith("multipart/form-data")
        for entry in server.requests()
    )


def test_query_in_the_url_and_the_body_and_the_formats(server):
    status, headers, body = http(server, "number + 1 FROM numbers(2)", query="SELECT")
    assert (status, body) == (200, b"1\n2\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    status, headers, body = http(server, "SELECT 1 AS a", default_format="JSONEachRow")
    assert body == b'{"a":1}\n' and headers["X-ClickHouse-Format"] == "JSONEachRow"
    status, headers, body = http(server, "SELECT 1 AS a FORMAT CSVWithNames")
    assert body == b'"a"\n1\n' and headers["X-ClickHouse-Format"] == "CSVWithNames"


def test_errors_are_sent_as_a_server_sends_them(server):
    status, headers, body = http(server, "SELECT * FROM standin_nowhere.nothing")
    assert status == 404
    assert headers["X-ClickHouse-Exception-Code"] == "81"
    assert body.startswith(b"Code: 81. DB::Exception: ")
    assert body.rstrip().endswith(b"(UNKNOWN_DATABASE) (version " + _version(server) + b")")
    status, headers, body = http(server, "SELEC 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    status, headers, body = http(server, "SELECT throwIf(1, 'boom')")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "395")
    with pytest.raises(DatabaseError) as raised:
        server.client().command("SELECT * FROM standin_nowhere.nothing")
    assert raised.value.code == 81


def _version(server) -> bytes:
    return server.client().server_version.encode()


def test_authentication(server):
    good = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
    bad = base64.b64encode(f"{server.user}:not-it".encode()).decode()
    ways_in = [
        ({"Authorization": f"Basic {good}"}, {}),
        ({"X-ClickHouse-User": server.user, "X-ClickHouse-Key": server.password}, {}),
        ({}, {"user": server.user, "password": server.password}),
    ]
    for headers, parameters in ways_in:
        assert http(server, "SELECT 1", headers=headers, auth=False, **parameters)[0] == 200
    ways_wrong = [
        ({"Authorization": f"Basic {bad}"}, {}),
        ({"X-ClickHouse-User": server.user, "X-ClickHouse-Key": "not-it"}, {}),
        ({}, {"user": "nobody", "password": server.password}),
        ({}, {}),  # the default user, which this server does not have
    ]
    for headers, parameters in ways_wrong:
        status, answer, body = http(server, "SELECT 1", headers=headers, auth=False, **parameters)
        assert (status, answer["X-ClickHouse-Exception-Code"]) == (403, "516"), body
        assert b"Authentication failed" in body and b"(AUTHENTICATION_FAILED)" in body
    with pytest.raises(DatabaseError) as refused:
        clickhouse_connect.get_client(
            host=server.host, port=server.port, username=server.user, password="not-it"
        )
    assert refused.value.code == 516


def test_request_log_keeps_no_credentials(server):
    http(server, "SELECT 1", auth=False, user=server.user, password=server.password)
    http(server, "SELECT 1", headers={"X-ClickHouse-Key": server.password}, auth=False)
    http(server, "SELECT 1")
    assert server.password not in server.log_path.read_text()


@pytest.mark.parametrize("method", ["lz4", "zstd", "gzip"])
def test_compressed_requests_and_responses(server, method):
    client = server.client(compress=method)
    table = f"standin_compress_{method}"
    client.command(f"DROP TABLE IF EXISTS {table}")
    client.command(f"CREATE TABLE {table} (n UInt32, s String) ENGINE = MergeTree ORDER BY n")
    rows = [(n, f"row {n} é") for n in range(5000)]
    client.insert(table, rows, column_names=["n", "s"])
    assert client.query(f"SELECT n, s FROM {table} ORDER BY n").result_rows == rows
    sent = [entry for entry in server.requests() if table in (entry.get("sql") or "")]
    assert any(entry["headers"].get("Content-Encoding") == method for entry in sent)
    assert any(method in entry["headers"].get("Accept-Encoding", "") for entry in sent)


def test_response_encoding_follows_the_setting_and_accept_encoding(server):
    sql = "SELECT number FROM numbers(1000)"
    asked = {"Accept-Encoding": "gzip"}
    status, headers, body = http(server, sql, headers=asked, enable_http_compression=1)
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b"0\n1\n")
    status, headers, body = http(server, sql, headers=asked, enable_http_compression=0)
    assert headers.get("Content-Encoding") is None and body.startswith(b"0\n1\n")
    both = {"Accept-Encoding": "gzip, zstd"}
    assert http(server, sql, headers=both, enable_http_compression=1)[1]["Content-Encoding"] == (
        "zstd"  # the server's preference, not the client's order
    )


def test_concurrent_requests_overlap(server):
    done = []

    def sleeper(tag):
        done.append(http(server, f"SELECT sleep(1), '{tag}'"))

    threads = [threading.Thread(target=sleeper, args=(tag,)) for tag in ("overlap-a", "overlap-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer[0] for answer in done] == [200, 200]

    def spans():
        # The server records a request after its response is sent, so the client can be
        # back before the second entry is in the log.
        found = [
            (entry["started"], entry["finished"])
            for entry in server.requests()
            if "overlap-" in (entry.get("sql") or "")
        ]
        return found if len(found) == 2 else None

    (start_a, end_a), (start_b, end_b) = sorted(
        wait_for(spans, 10, what="both requests in the stand-in's log")
    )
    assert start_b < end_a, "the stand-in served the two requests one after the other"
