"""Results as pandas DataFrames (`to_frame()` on profkit's results). pandas is imported only when a
frame is asked for, so the command line never pays for it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def records_frame(records: Iterable[dict], columns: Sequence[str] | None = None):
    """A DataFrame with one row per record (dicts of plain values); `columns` fixes their order and
    keeps them when there are no records."""
    import pandas as pd

    rows = list(records)
    if columns is None:
        return pd.DataFrame(rows)
    return pd.DataFrame(rows, columns=list(columns))
