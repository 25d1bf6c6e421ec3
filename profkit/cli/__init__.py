"""The `profkit` command line. Each subcommand lives in its own module and registers itself.

Heavy imports (torch, transformers, streamlit, hta) happen inside the command functions, so
`profkit analyze` stays fast.
"""

from __future__ import annotations

import sys

import typer

from profkit.errors import ProfkitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Where LLM inference time goes on NVIDIA GPUs, and what to change.",
)

@app.callback()
def _root() -> None:
    """Where LLM inference time goes on NVIDIA GPUs, and what to change."""


# Subcommand modules; each defines `register(app)`.
_COMMAND_MODULES = ("analyze", "run", "runs", "compare", "estimate", "recommend", "dashboard")


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"profkit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"profkit.cli.{name}":
                continue  # command not built yet
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console entry point. Usage errors: click's message, exit 2. ProfkitError: one line, exit 2."""
    try:
        app()  # standalone mode: click reports usage errors itself and exits 2
    except ProfkitError as exc:
        print(f"profkit: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("profkit: interrupted", file=sys.stderr)
        sys.exit(130)
