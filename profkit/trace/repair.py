"""Repairs for trace text that is not valid JSON as it stands, and for values that would break
what is done with them later (orjson in the cache and the JSON report, printing).

Only ever applied to an event or value that failed to decode, or to strings on their way in:
invalid UTF-8 bytes and lone UTF-16 surrogate escapes become U+FFFD, Python's bare NaN/Infinity
become strings (which the time checks then drop), integers beyond int64 become floats. Each repair
is counted in the `Notes`, so the reader says it happened.
"""

from __future__ import annotations

import re

import msgspec

from profkit.trace.checks import Notes

_SURROGATE_ESCAPE = re.compile(rb"(\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_NON_JSON_NUMBER = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")|-?\b(?:NaN|Infinity)\b', re.DOTALL)
_INT64_MAX = (1 << 63) - 1


def repaired(data: bytes) -> bytes:
    """`data` with invalid UTF-8, lone surrogate escapes and bare NaN/Infinity made valid JSON."""
    text = data.decode("utf-8", "replace").encode("utf-8")
    text = _SURROGATE_ESCAPE.sub(lambda m: m.group(1) or rb"\ufffd", text)
    return _NON_JSON_NUMBER.sub(lambda m: m.group(1) or b'"' + m.group(0) + b'"', text)


def decode_repairing(decoder, data: bytes, notes: Notes):
    """`decoder.decode(data)`, or of `repaired(data)` when `data` is not valid JSON text as it stands
    (counted in `notes.repaired_text`). A msgspec error when even that does not decode."""
    try:
        return decoder.decode(data)
    except msgspec.ValidationError:  # valid JSON of the wrong shape: nothing to repair
        raise
    except msgspec.DecodeError:
        fixed = repaired(data)
        if fixed == data:
            raise
    value = decoder.decode(fixed)
    notes.repaired_text += 1
    return value


def clean_value(value, notes: Notes):
    """A decoded JSON value that orjson can write and a terminal can print."""
    if isinstance(value, str):
        return clean_text(value, notes)
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64_MAX <= value <= _INT64_MAX:
        return float(value)
    if isinstance(value, list):
        return [clean_value(v, notes) for v in value]
    if isinstance(value, dict):
        return {clean_text(k, notes): clean_value(v, notes) for k, v in value.items()}
    return value


def clean_text(text: str, notes: Notes) -> str:
    """`text` with lone surrogates (from JSON escapes) replaced by U+FFFD (counted)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        notes.renamed_strings += 1
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
