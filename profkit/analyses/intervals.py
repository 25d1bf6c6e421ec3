"""Interval arithmetic on sorted nanosecond intervals (numpy), shared by the analyses."""

from __future__ import annotations

import numpy as np


def merge(starts_ns: np.ndarray, ends_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals as disjoint, sorted (start, end) arrays. Input need not be sorted."""
    if len(starts_ns) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(starts_ns, kind="stable")
    s = starts_ns[order]
    e = np.maximum.accumulate(ends_ns[order])
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    new[1:] = s[1:] > e[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(s) - 1)
    return s[first], e[last]


def covered_ns(merged_starts: np.ndarray, merged_ends: np.ndarray, lo_ns: int, hi_ns: int) -> int:
    """Length of the union (given as merged intervals) that lies inside [lo_ns, hi_ns)."""
    if len(merged_starts) == 0 or hi_ns <= lo_ns:
        return 0
    i = np.searchsorted(merged_ends, lo_ns, side="right")
    j = np.searchsorted(merged_starts, hi_ns, side="left")
    if j <= i:
        return 0
    s = np.clip(merged_starts[i:j], lo_ns, hi_ns)
    e = np.clip(merged_ends[i:j], lo_ns, hi_ns)
    return int((e - s).sum())


def in_window(ts_ns: np.ndarray, lo_ns: int, hi_ns: int) -> slice:
    """Slice of a sorted timestamp array with lo_ns <= ts < hi_ns."""
    return slice(int(np.searchsorted(ts_ns, lo_ns, side="left")), int(np.searchsorted(ts_ns, hi_ns, side="left")))
