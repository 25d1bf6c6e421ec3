"""What every reporting command does with `--json FILE|-`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from profkit.errors import ProfkitError


def json_text(document) -> str:
    """The JSON documents' one formatting: 2-space indent, non-JSON values as strings."""
    return json.dumps(document, indent=2, default=str) + "\n"


def write_json(text: str, target: str) -> None:
    """`-` writes to stdout; a path is written atomically (a temporary file, then rename)."""
    if target == "-":
        sys.stdout.write(text)
        return
    from profkit.trace.loader import replace_atomically

    try:
        replace_atomically(Path(target), text.encode())
    except OSError as exc:
        raise ProfkitError(f"cannot write --json {target}: {exc.strerror}; give a writable path or '-'") from None
