"""The extractor's side of the `prod` target: dbt's own credentials object read from the profile,
a clickhouse-connect client built from it exactly as dbt-clickhouse builds its own, and one
readable line for every way a server can fail (unreachable, TLS, refused login, server exception),
never with the password in it. Against the ClickHouse HTTP stand-in (or the real server of
`make test-server`)."""

from __future__ import annotations

import copy
import dataclasses
import textwrap

import pytest
from bfstats import clickhouse_source, config
from bfstats.clickhouse_source import (
    ClickHouseAuthenticationError,
    ClickHouseError,
    ClickHouseUnreachable,
    shorten_dbt_error,
)
from support import free_port

# Every field of dbt-clickhouse 1.9.8's ClickHouseCredentials. The extractor's client comes from
# dbt-clickhouse's own ChClientWrapper/ChHttpClient code, so whatever that code maps is mapped;
# when a new field appears, check how dbt-clickhouse uses it (client or materializations) and
# that `clickhouse_source.connect` still builds the client the way dbt does, then add it here.
KNOWN_CREDENTIAL_FIELDS = {
    "database", "schema", "driver", "host", "port", "user", "retries", "password", "cluster",
    "database_engine", "cluster_mode", "secure", "verify", "client_cert", "client_cert_key",
    "connect_timeout", "send_receive_timeout", "sync_request_timeout", "compress_block_size",
    "compression", "check_exchange", "custom_settings", "use_lw_deletes", "local_suffix",
    "local_db_prefix", "allow_automatic_deduplication", "tcp_keepalive",
}  # fmt: skip
PROFILE = """\
bfstats:
  target: prod
  outputs:
    prod:
      type: clickhouse
      driver: http
      host: "{{{{ env_var('BFSTATS_CH_HOST') }}}}"
      port: "{{{{ env_var('BFSTATS_CH_PORT') | int }}}}"
      user: "{{{{ env_var('BFSTATS_CH_USER') }}}}"
      password: "{{{{ env_var('BFSTATS_CH_PASSWORD') }}}}"
      secure: {secure}
      schema: bfstats_test
      threads: 1
{extra}
"""


def prod_target(server, tmp_path, monkeypatch, **profile_fields) -> config.Target:
    """load_target() on a profiles.yml with the given extra fields, pointed at `server`."""
    extra = textwrap.indent(
        "\n".join(f"{name}: {value}" for name, value in profile_fields.items()), " " * 6
    )
    (tmp_path / "profiles.yml").write_text(
        PROFILE.format(secure=str(server.secure).lower(), extra=extra)
    )
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return config.load_target()


def with_credentials(target: config.Target, **changes) -> config.Target:
    return dataclasses.replace(
        target, credentials=dataclasses.replace(target.credentials, **changes)
    )


def one_line_without_secret(error: Exception, password: str) -> str:
    text = str(error)
    assert "\n" not in text, text
    assert password not in text and password not in repr(error)
    for noise in ("HTTPConnectionPool", "urllib3", "Traceback", "(for url", "(version"):
        assert noise not in text, text
    return text


def test_every_credentials_field_is_known():
    from dbt.adapters.clickhouse.credentials import ClickHouseCredentials

    fields = {field.name for field in dataclasses.fields(ClickHouseCredentials)}
    assert fields == KNOWN_CREDENTIAL_FIELDS, (
        f"dbt-clickhouse's credentials changed: new {sorted(fields - KNOWN_CREDENTIAL_FIELDS)}, "
        f"gone {sorted(KNOWN_CREDENTIAL_FIELDS - fields)}"
    )


def test_shorten_dbt_error_on_dbt_clickhouse_texts():
    target = config.Target(
        "prod",
        "clickhouse",
        "bfstats",
        credentials=_credentials(host="db.example", port=8123, user="etl"),
    )
    refused = (
        "dbt build --select +x failed: Database Error\n  Error HTTPConnectionPool("
        "host='db.example', port=8123): Max retries exceeded with url: /?query_id=1 (Caused by "
        "NewConnectionError("
        "\"HTTPConnection(host='db.example', port=8123): Failed to establish a new connection: "
        '[Errno 111] Connection refused")) executing HTTP request attempt 1 (http://db.example:8123)'
    )
    assert shorten_dbt_error(refused, target) == (
        "ClickHouse at http://db.example:8123 is unreachable (connection refused); check "
        "BFSTATS_CH_HOST, BFSTATS_CH_PORT and BFSTATS_CH_SECURE, and that the server runs"
    )
    login = (
        "dbt build failed: Database Error\n  Received ClickHouse exception, code: 516, server "
        "response: Code: 516. DB::Exception: etl: Authentication failed: password is incorrect, or "
        "there is no user with such name. (AUTHENTICATION_FAILED) (version 26.9.2.1) (for url "
        "http://db.example:8123)"
    )
    assert shorten_dbt_error(login, target) == (
        "ClickHouse at http://db.example:8123 rejected user etl: wrong password or no such user; "
        "check BFSTATS_CH_USER / BFSTATS_CH_PASSWORD"
    )
    server = (
        "Database Error in model m (models/m.sql)\n  Received ClickHouse exception, code: 60, "
        "server response: Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE) (version "
        "26.9.2.1) (for url http://db.example:8123)\n  compiled code at target/run/m.sql"
    )
    assert shorten_dbt_error(server, target) == (
        "Database Error in model m (models/m.sql)\n  Code: 60. DB::Exception: Unknown table x. "
        "(UNKNOWN_TABLE)\n  compiled code at target/run/m.sql"
    )
    assert shorten_dbt_error("Compilation Error in model m", target) == (
        "Compilation Error in model m"
    )


def _credentials(**fields):
    from dbt.adapters.clickhouse.credentials import ClickHouseCredentials

    return ClickHouseCredentials(database="", schema="bfstats", **fields)


@pytest.mark.slow
def test_the_target_is_dbts_credentials_object(clickhouse_server, tmp_path, monkeypatch):
    from dbt.adapters.clickhouse.credentials import ClickHouseCredentials

    target = prod_target(
        clickhouse_server,
        tmp_path,
        monkeypatch,
        compression="lz4",
        connect_timeout=7,
        send_receive_timeout=42,
        custom_settings="{max_threads: 3}",
    )
    assert isinstance(target.credentials, ClickHouseCredentials)
    assert target.credentials.custom_settings == {"max_threads": 3}
    assert (target.host, target.port, target.user) == (
        clickhouse_server.host,
        clickhouse_server.port,
        clickhouse_server.user,
    )
    scheme = "https" if clickhouse_server.secure else "http"
    assert target.describe() == (
        f"ClickHouse {scheme}://{clickhouse_server.user}@{clickhouse_server.host}:"
        f"{clickhouse_server.port} (database bfstats_test)"
    )
    password = clickhouse_server.password
    assert password not in repr(target) and password not in target.describe()
    source = clickhouse_source.open_source(target)
    try:
        assert password not in repr(source)
    finally:
        source.close()


@pytest.mark.slow
def test_the_extractor_connects_as_dbt_does(clickhouse_server, tmp_path, monkeypatch):
    from dbt.adapters.clickhouse.dbclient import get_db_client

    target = prod_target(
        clickhouse_server,
        tmp_path,
        monkeypatch,
        compression="zstd",
        connect_timeout=7,
        send_receive_timeout=42,
        custom_settings="{max_threads: 3, max_result_rows: 1000000}",
    )
    dbt_client = get_db_client(copy.copy(target.credentials))._client
    ours = clickhouse_source.connect(target)
    try:
        assert ours.params == {
            name: value for name, value in dbt_client.params.items() if name != "session_id"
        }
        assert dbt_client.params["session_id"].startswith("dbt::")
        assert "session_id" not in ours.params  # no session: it reads on several threads
        assert (ours.timeout.connect_timeout, ours.timeout.read_timeout) == (7, 42)
        assert str(ours.timeout) == str(dbt_client.timeout)
        assert ours.compression == dbt_client.compression
        assert ours.database == dbt_client.database == "bfstats_test"
        assert {**ours.headers, "User-Agent": ""} == {**dbt_client.headers, "User-Agent": ""}
        assert "bfstats-backfill" in ours.headers["User-Agent"]
        # The custom settings reach the server with every query; results come compressed.
        assert ours.query("SELECT getSetting('max_threads')").result_rows == [(3,)]
    finally:
        ours.close()
        dbt_client.close()
    if not clickhouse_server.real:
        probe = [
            e
            for e in clickhouse_server.requests()
            if "getSetting('max_threads')" in (e.get("sql") or "")
        ]
        sent = probe[-1]
        assert sent["parameters"]["max_threads"] == "3"
        assert "zstd" in sent["headers"]["Accept-Encoding"]
        assert "session_id" not in sent["parameters"]


@pytest.mark.slow
def test_stream_and_scalar(clickhouse_server, tmp_path, monkeypatch):
    target = prod_target(clickhouse_server, tmp_path, monkeypatch)
    admin = clickhouse_server.client()
    admin.command("CREATE DATABASE IF NOT EXISTS bfstats_test")
    admin.command("DROP TABLE IF EXISTS bfstats_test.source_probe")
    admin.command(
        "CREATE TABLE bfstats_test.source_probe (k UInt32, name String) "
        "ENGINE = MergeTree ORDER BY k"
    )
    admin.insert("bfstats_test.source_probe", [(k, f"n'{k}") for k in range(3000)])
    source = clickhouse_source.open_source(target)
    try:
        source.check()
        count = source.scalar(
            "count probe", "SELECT count() FROM source_probe WHERE k >= {low:UInt32}", {"low": 10}
        )
        assert count == 2990
        rows = [
            row
            for rows in clickhouse_source.rows_of(
                source.stream(
                    "rows probe",
                    "SELECT k, name FROM source_probe WHERE k >= {low:UInt32} ORDER BY k",
                    {"low": 10},
                    1000,
                )
            )
            for row in rows
        ]
        assert rows[0] == (10, "n'10") and len(rows) == 2990
        with pytest.raises(ClickHouseError) as raised:
            source.scalar("count missing", "SELECT count() FROM no_such_mart", {})
    finally:
        source.close()
    text = one_line_without_secret(raised.value, clickhouse_server.password)
    assert text.startswith("query count missing failed: Code: 60. DB::Exception: ")
    assert text.endswith("(UNKNOWN_TABLE)")


@pytest.mark.slow
def test_unreachable_and_refused(clickhouse_server, tmp_path, monkeypatch):
    target = prod_target(clickhouse_server, tmp_path, monkeypatch)
    password = clickhouse_server.password
    closed = free_port()
    cases = [
        (
            with_credentials(target, port=closed, secure=False),
            ClickHouseUnreachable,
            f"ClickHouse at http://127.0.0.1:{closed} is unreachable (connection refused); check "
            "BFSTATS_CH_HOST, BFSTATS_CH_PORT and BFSTATS_CH_SECURE, and that the server runs",
        ),
        (
            with_credentials(target, host="no-such-host.invalid"),
            ClickHouseUnreachable,
            "is unreachable (host name not found in DNS)",
        ),
        (
            with_credentials(target, password="not-the-password"),
            ClickHouseAuthenticationError,
            f"ClickHouse at {target.url} rejected user {target.user}: wrong password or no such "
            "user; check BFSTATS_CH_USER / BFSTATS_CH_PASSWORD",
        ),
        (
            with_credentials(target, user="no_such_user_bfstats"),
            ClickHouseAuthenticationError,
            "rejected user no_such_user_bfstats: wrong password or no such user",
        ),
    ]
    if not clickhouse_server.secure:
        cases.append(
            (
                with_credentials(target, secure=True),
                ClickHouseUnreachable,
                f"ClickHouse at https://{target.host}:{target.port} is unreachable (TLS "
                "handshake failed: [SSL: WRONG_VERSION_NUMBER] wrong version number)",
            )
        )
    for broken, kind, expected in cases:
        with pytest.raises(kind) as raised:
            clickhouse_source.check_server(broken)
        assert expected in one_line_without_secret(raised.value, password)


@pytest.fixture(scope="module")
def tls_server(clickhouse_server, tmp_path_factory):
    from clickhouse_http import ClickHouseStandIn

    if clickhouse_server.real:
        pytest.skip("needs a server with a certificate of our own")
    server = ClickHouseStandIn(
        tmp_path_factory.mktemp("clickhouse-https"), "bfstats", clickhouse_server.password, tls=True
    )
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verify_is_honoured(tls_server, tmp_path, monkeypatch):
    tls_server.client().command("CREATE DATABASE IF NOT EXISTS bfstats_test")
    target = prod_target(tls_server, tmp_path, monkeypatch)
    assert target.url == f"https://127.0.0.1:{tls_server.port}"
    with pytest.raises(ClickHouseUnreachable) as raised:
        clickhouse_source.check_server(target)  # a self-signed certificate, verify on
    text = one_line_without_secret(raised.value, tls_server.password)
    assert "TLS handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED]" in text
    insecure = prod_target(tls_server, tmp_path, monkeypatch, verify="false")
    assert insecure.credentials.verify is False
    source = clickhouse_source.open_source(insecure)
    try:
        source.check()
        assert source.scalar("tls probe", "SELECT 42", {}) == 42
    finally:
        source.close()
