"""The dashboard's two entry points as real servers: both listen on 127.0.0.1 only, with the same
options, and stopping `profkit dashboard` (SIGTERM) stops its server -- no orphan left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from live_server import ServerDidNotStart, free_port, stop, wait_healthy
from profkit.dashboard.app import SERVER_OPTIONS
from profkit.dashboard.uploads import upload_limit_mb

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "traces" / "samples"
START_TIMEOUT_S = 90


def _wait_healthy(proc: subprocess.Popen, port: int) -> None:
    try:
        wait_healthy(proc, port, START_TIMEOUT_S)
    except ServerDidNotStart as exc:
        pytest.fail(f"{exc}:\n{proc.communicate()[0][-3000:]}")


def _listening_addresses(pid: int, port: int) -> set[str]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {c.laddr.ip for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_the_repository_config_says_what_profkit_dashboard_passes():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    flat = {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}
    assert flat == SERVER_OPTIONS
    assert SERVER_OPTIONS["server.maxUploadSize"] == upload_limit_mb() and SERVER_OPTIONS["client.showErrorDetails"] == "none"


@pytest.mark.slow
def test_profkit_dashboard_becomes_the_server_and_sigterm_stops_it(tmp_path):
    port = free_port()
    env = {**os.environ, "PROFKIT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "profkit", "dashboard", str(SAMPLES), "--headless", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_healthy(proc, port)
        server = psutil.Process(proc.pid)
        assert "streamlit" in " ".join(server.cmdline())  # the same process: profkit replaced itself with the server
        assert _listening_addresses(proc.pid, port) == {"127.0.0.1"}
        children = server.children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) is not None
        time.sleep(0.5)
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)  # nothing left running
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # the port is closed: no orphan server
    finally:
        stop(proc)


@pytest.mark.slow
def test_streamlit_run_from_the_checkout_binds_loopback_with_the_same_options(tmp_path):
    port = free_port()
    env = {**os.environ, "PROFKIT_CACHE_DIR": str(tmp_path / "cache"), "PROFKIT_TRACES_DIR": str(SAMPLES)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboards/app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_healthy(proc, port)
        assert _listening_addresses(proc.pid, port) == {"127.0.0.1"}
    finally:
        stop(proc)
