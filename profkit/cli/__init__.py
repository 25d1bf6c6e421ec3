"""The `profkit` command line. Each subcommand lives in its own module and registers itself.

Heavy imports (torch, transformers, streamlit, hta) happen inside the command functions, so
`profkit analyze` stays fast.
"""

from __future__ import annotations

import os
import signal
import sys

import typer

from profkit.cli.output import error_text, one_line
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
        importlib.import_module(f"profkit.cli.{name}").register(app)


_register_all()


def main() -> None:
    """Console entry point. Usage errors: click's message, exit 2. ProfkitError: one line, exit 2.
    Ctrl-C: `profkit: interrupted`, exit 130. Anything unexpected: one line, exit 1 (the traceback
    with PROFKIT_DEBUG=1)."""
    signal.signal(signal.SIGINT, _note_interrupt)
    for stream in (sys.stdout, sys.stderr):  # a name that cannot be encoded is shown escaped, never a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        app()  # standalone mode: click reports usage errors itself and exits 2
    except ProfkitError as exc:
        _exit(f"profkit: error: {error_text(exc)}", 2)
    except KeyboardInterrupt:
        _exit("profkit: interrupted", 130)
    except SystemExit as exc:
        if _interrupted and exc.code in (1, 130):  # typer/click turned Ctrl-C into a silent exit
            _exit("profkit: interrupted", 130)
        raise
    except Exception as exc:  # RecursionError, MemoryError included
        if os.environ.get("PROFKIT_DEBUG"):
            raise
        _exit(f"profkit: internal error: {type(exc).__name__}: {exc} (a bug in profkit; rerun with PROFKIT_DEBUG=1 for the traceback and report it)", 1)


_interrupted = False


def _note_interrupt(signum, frame) -> None:
    """SIGINT: remember it (click hides it behind its own exit), then interrupt as Python does."""
    global _interrupted  # noqa: PLW0603 -- a signal handler can only leave its mark in module state
    _interrupted = True
    signal.default_int_handler(signum, frame)


def _exit(message: str, code: int) -> None:
    print(one_line(message), file=sys.stderr)
    sys.exit(code)
