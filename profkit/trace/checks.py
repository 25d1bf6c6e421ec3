"""What the loader drops or repairs, and why: checks on event times, exact duplicates, and the
notes that become a Trace's reading warnings.

Times are checked together over all kept events (float microseconds, as in the file):

- unusable: NaN or infinite, negative `ts` or `dur`, a `ts` past what int64 nanoseconds hold;
- outside the trace: a `ts` away from the bulk of the trace — start times are split wherever two
  consecutive ones are more than MAX_GAP_US apart, and only the group holding most events is
  kept (a corrupt 0 or 1e300 among Kineto's microsecond clock readings is its own group);
- longer than the trace: an event ending more than max(span, MIN_SLACK_US) after the last start,
  where span is the time from the first to the last start (a 1e300 `dur` must not become a
  9e12 ms kernel, nor overflow the nanosecond columns).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

#: Two consecutive event starts further apart than this mean one of them is corrupt (1 hour).
MAX_GAP_US = 3600e6
#: Slack past the last event start that any event may still end in (60 s), however short the trace.
MIN_SLACK_US = 60e6
#: Largest time the nanosecond columns can hold, in microseconds.
_MAX_US = (2**63 - 1) / 1000.0


class Notes:
    """Counts of what reading a trace dropped, ignored or repaired, by kind; `warnings()` says it."""

    def __init__(self):
        self.dropped_fields: Counter = Counter()  # "kernel without 'ts'"
        self.not_objects = 0
        self.ignored_values: Counter = Counter()  # field name -> count
        self.repaired_text = 0
        self.renamed_strings = 0
        self.too_deep = 0
        self.bad_times: Counter = Counter()  # "negative dur" -> count
        self.duplicates: Counter = Counter()  # table label -> count
        self.span_us = 0.0

    def warnings(self) -> list[str]:
        out = []
        if self.not_objects:
            out.append(f"ignored {_count(self.not_objects, 'traceEvents entry', 'traceEvents entries')} that are not JSON objects")
        if self.too_deep:
            out.append(f"dropped {_count(self.too_deep, 'event')} nested too deeply to read (over 1000 levels)")
        if self.repaired_text:
            out.append(
                f"repaired {_count(self.repaired_text, 'event')} with text that is not valid JSON (invalid UTF-8 "
                "bytes, lone surrogate escapes or NaN/Infinity; bad characters became U+FFFD)"
            )
        if self.renamed_strings:
            out.append(f"replaced unencodable characters in {_count(self.renamed_strings, 'name')} with U+FFFD")
        if self.dropped_fields:
            out.append(f"dropped {_count(sum(self.dropped_fields.values()), 'event')} missing a field profkit needs ({_kinds(self.dropped_fields)})")
        if self.bad_times:
            out.append(
                f"dropped {_count(sum(self.bad_times.values()), 'event')} with unusable times ({_kinds(self.bad_times)}; "
                f"the trace spans {self.span_us / 1e6:.3g} s)"
            )
        if self.duplicates:
            out.append(f"removed {_count(sum(self.duplicates.values()), 'exact duplicate event')} ({_kinds(self.duplicates)}); each is counted once")
        if self.ignored_values:
            out.append(
                f"ignored {_count(sum(self.ignored_values.values()), 'value')} of the wrong type or out of range "
                f"({_kinds(self.ignored_values)}); defaults used instead"
            )
        return out


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"1 {singular}" if n == 1 else f"{n} {plural or singular + 's'}"


def _kinds(counts: Counter) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in counts.most_common())


def usable_times(ts_us: list[np.ndarray], dur_us: list[np.ndarray], notes: Notes) -> list[np.ndarray]:
    """For each table, a mask of the rows whose (ts, dur) pass the checks in the module docstring;
    counts of the rest go to `notes.bad_times`."""
    masks = []
    for ts, dur in zip(ts_us, dur_us):
        ok = np.ones(len(ts), dtype=bool)
        for label, bad in (
            ("NaN or infinite ts", ~np.isfinite(ts)),
            ("NaN or infinite dur", ~np.isfinite(dur)),
            ("negative ts", ts < 0),
            ("negative dur", dur < 0),
            ("ts beyond the clock's range", ts > _MAX_US),
        ):
            _drop(ok, bad, label, notes)
        masks.append(ok)
    starts = np.concatenate([ts[ok] for ts, ok in zip(ts_us, masks)]) if masks else np.zeros(0)
    lo, hi = _bulk_span(starts)
    notes.span_us = hi - lo
    latest_end = hi + max(hi - lo, MIN_SLACK_US)
    for ts, dur, ok in zip(ts_us, dur_us, masks):
        with np.errstate(invalid="ignore", over="ignore"):
            _drop(ok, (ts < lo) | (ts > hi), "ts outside the trace's time span", notes)
            _drop(ok, ts + dur > latest_end, "dur longer than the trace", notes)
    return masks


def _drop(ok: np.ndarray, bad: np.ndarray, label: str, notes: Notes) -> None:
    hit = ok & bad
    n = int(hit.sum())
    if n:
        notes.bad_times[label] += n
        ok &= ~bad


def _bulk_span(starts: np.ndarray) -> tuple[float, float]:
    """First and last start of the largest group of starts with no gap over MAX_GAP_US."""
    if len(starts) == 0:
        return 0.0, 0.0
    s = np.sort(starts)
    breaks = np.flatnonzero(np.diff(s) > MAX_GAP_US)
    firsts = np.concatenate([[0], breaks + 1])
    lasts = np.concatenate([breaks, [len(s) - 1]])
    biggest = int(np.argmax(lasts - firsts))
    return float(s[firsts[biggest]]), float(s[lasts[biggest]])


def first_occurrences(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Mask of rows that are not an exact repeat (every column equal) of an earlier row.

    Rows are hashed to one integer, sorted by it, and only neighbours with equal hashes are compared
    in full (a stable sort keeps the earliest copy first)."""
    values = [np.ascontiguousarray(v).view(np.uint64) if v.dtype.itemsize == 8 else v.astype(np.int64).view(np.uint64) for v in columns.values()]
    n = len(values[0]) if values else 0
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for v in values:
            h = (h ^ v) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
    order = np.argsort(h, kind="stable")
    same = np.flatnonzero(h[order[1:]] == h[order[:-1]])
    if len(same) == 0:
        return keep
    earlier, later = order[same], order[same + 1]
    equal = np.ones(len(same), dtype=bool)
    for v in values:
        equal &= v[earlier] == v[later]
    keep[later[equal]] = False
    return keep
