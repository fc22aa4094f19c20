"""Start and stop the stand-in from tests; or describe a real server given by the environment.

Both give `env()`: the variables that point `bfstats` (target `prod`) at the server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]


class ClickHouseStandIn:
    """The stand-in server (`clickhouse_http.server`) in its own process group."""

    real = False

    def __init__(self, workdir: Path, user: str = "bfstats", password: str = "", tls: bool = False):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "clickhouse"
        self.log_path = self.workdir / "requests.jsonl"
        self.output_path = self.workdir / "server.out"
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.user = user
        self.password = password
        self.secure = tls
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> ClickHouseStandIn:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
            "CLICKHOUSE_HTTP_PASSWORD": self.password,
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "clickhouse_http.server", "--data", str(self.data_dir)]
        command += ["--user", self.user, "--log", str(self.log_path)]
        if self.port is not None:  # a restart keeps its port
            command += ["--port", str(self.port)]
        if self.secure:
            command += ["--tls-cert", str(self.certificate()), "--tls-key", str(self._key())]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.output_path.open("a"),
            text=True,
            start_new_session=True,
        )
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        line = ready[0] if ready else ""
        if not line.startswith("READY "):
            self.kill()
            raise AssertionError(
                f"the ClickHouse stand-in did not start: {line!r} {self.output_path.read_text()}"
            )
        self.port = int(line.split()[1])
        return self

    def certificate(self) -> Path:
        """A self-signed certificate for 127.0.0.1 (made once per workdir)."""
        cert = self.workdir / "cert.pem"
        if not cert.exists():
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
                + ["-keyout", str(self._key()), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
                + ["-addext", "subjectAltName=IP:127.0.0.1"],
                check=True,
                capture_output=True,
            )
        return cert

    def _key(self) -> Path:
        return self.workdir / "key.pem"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def env(self, **overrides: str) -> dict[str, str]:
        return _target_env(self, overrides)

    def requests(self) -> list[dict]:
        """The request log so far (credentials redacted by the server)."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text()
        # A line still being written has no newline yet; it is read on the next call.
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line]

    def client(self, **kwargs):
        import clickhouse_connect

        options = {"username": self.user, "password": self.password, "secure": self.secure}
        if self.secure:
            options["ca_cert"] = str(self.certificate())
        return clickhouse_connect.get_client(
            host=self.host, port=self.port, **{**options, **kwargs}
        )


class RealServer:
    """A real server given by BFSTATS_CH_HOST/PORT/USER/PASSWORD/SECURE (`make test-server`)."""

    real = True

    def __init__(self, environ: dict[str, str]):
        self.host = environ["BFSTATS_CH_HOST"]
        self.secure = environ.get("BFSTATS_CH_SECURE", "false").lower() in ("true", "1", "yes")
        self.port = int(environ.get("BFSTATS_CH_PORT") or (8443 if self.secure else 8123))
        self.user = environ.get("BFSTATS_CH_USER", "default")
        self.password = environ.get("BFSTATS_CH_PASSWORD", "")

    def start(self) -> RealServer:
        return self

    def stop(self) -> None:
        pass

    def env(self, **overrides: str) -> dict[str, str]:
        return _target_env(self, overrides)

    def requests(self) -> list[dict]:
        return []  # a real server's query_log is not ours to read

    def client(self, **kwargs):
        import clickhouse_connect

        options = {"username": self.user, "password": self.password, "secure": self.secure}
        return clickhouse_connect.get_client(
            host=self.host, port=self.port, **{**options, **kwargs}
        )


def _target_env(server, overrides: dict[str, str]) -> dict[str, str]:
    # The models go to their own database, so a real server's `bfstats` is left alone.
    env = {
        "BFSTATS_CH_SCHEMA": os.environ.get("BFSTATS_TEST_CH_SCHEMA", "bfstats_test"),
        "BFSTATS_CH_CLUSTER": "",
        "BFSTATS_TARGET": "prod",
        "BFSTATS_CH_HOST": server.host,
        "BFSTATS_CH_PORT": str(server.port),
        "BFSTATS_CH_USER": server.user,
        "BFSTATS_CH_PASSWORD": server.password,
        "BFSTATS_CH_SECURE": "true" if server.secure else "false",
    }
    env.update(overrides)
    return env
