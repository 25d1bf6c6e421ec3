"""`profkit dashboard [TRACES_DIR]`: the Streamlit dashboard over the runs in a traces directory.

The app ships inside the package (`profkit/dashboard/app.py`, pages in `profkit/dashboard/views/`),
so this finds it in any install, editable or not; `dashboards/app.py` in a checkout is a shim to it.
"""

from __future__ import annotations

from typing import Optional

import typer

DEFAULT_PORT = 8501
DEFAULT_ADDRESS = "127.0.0.1"


def streamlit_command(traces_dir, port: int = DEFAULT_PORT, headless: bool = False, address: str = DEFAULT_ADDRESS) -> list[str]:
    """The `streamlit run` command line for the dashboard over `traces_dir` (an existing directory)."""
    import sys
    from pathlib import Path

    from profkit.dashboard import uploads

    app_path = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true" if headless else "false",
        "--server.maxUploadSize", str(uploads.upload_limit_mb()),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--", "--traces-dir", str(traces_dir),
    ]


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard_command(
        traces_dir: Optional[str] = typer.Argument(None, help="Folder of runs and traces (default: the bundled samples, or $PROFKIT_TRACES_DIR)."),
        port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to serve on."),
        headless: bool = typer.Option(False, "--headless", help="Do not open a browser window (servers, CI)."),
        address: str = typer.Option(DEFAULT_ADDRESS, "--address", help="Address to listen on; 0.0.0.0 serves other machines too (the app then shows this folder to them)."),
    ) -> None:
        """Open the dashboard: runs, run detail, compare and recommend pages over TRACES_DIR."""
        import subprocess
        from pathlib import Path

        from profkit.dashboard.paths import traces_dir_from
        from profkit.errors import ProfkitError

        if not 0 < port < 65536:
            raise ProfkitError(f"--port must be between 1 and 65535, got {port}")
        if traces_dir is not None and not Path(traces_dir).expanduser().is_dir():
            raise ProfkitError(f"TRACES_DIR {traces_dir}: not a directory; give the folder that holds your runs (e.g. traces/)")
        root = traces_dir_from(["--traces-dir", traces_dir] if traces_dir else [])
        typer.echo(f"profkit dashboard over {root} at http://{address}:{port} (Ctrl-C stops it)", err=True)
        code = subprocess.call(streamlit_command(root, port, headless, address))
        if code:
            raise typer.Exit(code)
