"""What every reporting command does with `--json FILE|-`, and its one-line messages on stderr."""

from __future__ import annotations

import json
import sys

from profkit import fileio
from profkit.errors import ProfkitError, cli_text

# Options whose flag is not `--` + the keyword argument's name with dashes.
_FLAGS = {"model_path": "--model", "modes": "--mode", "out_dir": "--out", "max_bytes": "--max-trace-bytes", "baseline_reps": "--baseline-rep"}


def flag(name: str) -> str:
    """The command-line flag of the library option `name` (`batch_sizes` -> `--batch-sizes`)."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def error_text(exc: ProfkitError) -> str:
    """An error's message as the command line says it: options named by their flags."""
    return cli_text(exc.template, flag)


def json_text(document) -> str:
    """The JSON documents' one formatting: 2-space indent, non-JSON values as strings."""
    return json.dumps(document, indent=2, default=str) + "\n"


def write_json(text: str, target: str) -> None:
    """`-` writes to stdout; a path is written by `profkit.fileio.write_bytes` (atomic for regular
    files, through a symlink to its target, straight into /dev/null, FIFOs and devices)."""
    data = text.encode("utf-8", "backslashreplace")  # a lone surrogate (undecodable file name) stays a JSON escape
    if target == "-":
        sys.stdout.write(data.decode("utf-8"))
        return
    try:
        fileio.write_bytes(target, data)
    except OSError as exc:
        raise ProfkitError(f"cannot write --json {target}: {exc.strerror or exc}; give a writable path or '-'") from None


def one_line(text: str) -> str:
    """`text` as a single line: line breaks (a file name may hold them) are written as \\n."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def warn(message: str) -> None:
    """`profkit: warning: <message>` on stderr, on one line."""
    print(one_line(f"profkit: warning: {message}"), file=sys.stderr)
