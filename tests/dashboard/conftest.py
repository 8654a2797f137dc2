"""A real `prefect server start` on loopback backed by PostgreSQL, for the ops-path tests
of this folder (the Prefect UI, the scale-out)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.browser import chromium, visit  # noqa: F401 — the browser fixtures of this folder's tests
from tests.engine.conftest import world  # noqa: F401
from tests.pg import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _api(url: str, body: dict | None = None):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class PrefectServer:
    def __init__(self, home: Path, database_url: str) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.ui = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
        self.log = home / "server.log"
        home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if _api(self.api + "/health") is True:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prefect server did not start:\n" + self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.5)

    def cli(self, *args: str, env: dict | None = None, cwd: Path = REPO, timeout: int = 180) -> str:
        r = subprocess.run(
            [str(BIN / "prefect"), *args],
            env={**self.env, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert r.returncode == 0, f"prefect {' '.join(args)}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        return r.stdout

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def prefect_server(tmp_path, pg_server):
    from sqlalchemy import text

    name = f"prefect_{uuid.uuid4().hex[:8]}"
    with pg_server.admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    server = PrefectServer(tmp_path / "prefect-home", pg_server.url(name).replace("+psycopg", "+asyncpg"))
    yield server
    server.stop()
