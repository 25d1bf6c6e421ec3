"""Exceptions that front ends turn into one line and exit code 2."""


class ProfkitError(Exception):
    """A user-facing error: the message says what was wrong and what to do."""


class TraceError(ProfkitError):
    """A trace file that cannot be read or analyzed."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
