"""Exceptions that front ends turn into one line and exit code 2.

A message names the option a user should change with `option("name")`, `name` being the keyword
argument of the library call (`batch_sizes`, `bandwidth_gbps`). A library user reads it as that
name; the command line shows its own flag (`--batch-sizes`) through `cli_text`. So the
library's errors never name command-line flags, and the CLI's never name Python arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_OPTION = re.compile(r"\{option:([A-Za-z_][A-Za-z0-9_]*)\}")


def option(name: str) -> str:
    """How a message names the option `name` (a keyword argument of the library call)."""
    return "{option:" + name + "}"


def library_text(text: str) -> str:
    """`text` with its options named as keyword arguments: `batch_sizes`."""
    return _OPTION.sub(lambda m: m.group(1), text)


def cli_text(text: str, flag: Callable[[str], str]) -> str:
    """`text` with its options named by `flag(name)`, e.g. the command line's `--batch-sizes`."""
    return _OPTION.sub(lambda m: flag(m.group(1)), text)


class ProfkitError(Exception):
    """A user-facing error: the message says what was wrong and what to do."""

    @property
    def template(self) -> str:
        """The message with its options still marked (see `option`)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return library_text(self.template)


class TraceError(ProfkitError):
    """A trace file that cannot be read or analyzed."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
