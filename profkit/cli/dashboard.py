"""`profkit dashboard [TRACES_DIR]`: the Streamlit dashboard over the runs in a traces directory.

The app ships inside the package (`profkit/dashboard/app.py`, pages in `profkit/dashboard/views/`),
so this finds it in any install, editable or not; `dashboards/app.py` in a checkout is a shim to it.
This process *becomes* the Streamlit server (`os.execv`): stopping it (Ctrl-C, SIGTERM) stops the
server, and no child is left behind.
"""

from __future__ import annotations

import typer

DEFAULT_PORT = 8501
DEFAULT_ADDRESS = "127.0.0.1"


def streamlit_command(traces_dir, port: int = DEFAULT_PORT, headless: bool = False, address: str = DEFAULT_ADDRESS) -> list[str]:
    """The `streamlit run` command line for the dashboard over `traces_dir` (an existing directory),
    with the app's SERVER_OPTIONS (`address` replaces its server.address)."""
    import sys
    from pathlib import Path

    from profkit.dashboard.app import SERVER_OPTIONS

    app_path = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    options = {**SERVER_OPTIONS, "server.address": address, "server.port": port, "server.headless": headless}
    flags = [item for key, value in options.items() for item in (f"--{key}", _flag_value(value))]
    return [sys.executable, "-m", "streamlit", "run", str(app_path), *flags, "--", "--traces-dir", str(traces_dir)]


def _flag_value(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard_command(
        traces_dir: str | None = typer.Argument(None, help="Folder of runs and traces (default: the bundled samples, or $PROFKIT_TRACES_DIR)."),
        port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to serve on."),
        headless: bool = typer.Option(False, "--headless", help="Do not open a browser window (servers, CI)."),
        address: str = typer.Option(
            DEFAULT_ADDRESS, "--address", help="Address to listen on; 0.0.0.0 serves other machines too (the app then shows this folder to them)."
        ),
    ) -> None:
        """Open the dashboard: runs, run detail, compare and recommend pages over TRACES_DIR."""
        import os
        import sys

        from profkit.errors import ProfkitError
        from profkit.store.paths import traces_dir as resolve_traces_dir

        if not 0 < port < 65536:
            raise ProfkitError(f"--port must be between 1 and 65535, got {port}")
        root = resolve_traces_dir(traces_dir)
        command = streamlit_command(root, port, headless, address)
        typer.echo(f"profkit dashboard over {root} at http://{address}:{port} (Ctrl-C stops it)", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execv(command[0], command)  # this process becomes the server: a signal to it reaches the server
        except OSError as exc:
            raise ProfkitError(f"cannot start the Streamlit server ({exc.strerror or exc}); is streamlit installed?") from None
