"""A live Streamlit server and headless Chromium for the tests and `benchmarks/bench_dashboard.py`:
a free loopback port, waiting for the server's health endpoint, stopping it, Chromium's flags."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request

CHROMIUM = shutil.which("chromium")  # Debian's chromium (apt-get install -y chromium); playwright downloads no browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class ServerDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, port: int, timeout_s: float) -> str:
    """The server's base URL once `/_stcore/health` answers 200; ServerDidNotStart (after killing
    `proc`) if it exits or `timeout_s` passes first."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise ServerDidNotStart(f"the server did not start on {url} (exit code {proc.returncode})")
        time.sleep(0.3)


def stop(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout_s`; a process already gone is left alone."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
