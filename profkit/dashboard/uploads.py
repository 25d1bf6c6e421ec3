"""A trace uploaded from the browser: size-limited, validated, analyzed with the CLI's `analyze_path`.

The bytes are checked before any parsing (name, size, gzip integrity and unpacked size, so a small
gzip cannot unpack into gigabytes), then written to a private temporary directory, analyzed without
the on-disk cache, and deleted. Every failure is a ProfkitError whose message names the file and
says what to do; the page shows it with `st.error`, never a traceback.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

from profkit.errors import ProfkitError, TraceError

#: Largest upload accepted, in bytes (the browser-side `server.maxUploadSize` is set to match, in MB).
UPLOAD_LIMIT_BYTES = 64 * 1024**2
#: Largest JSON a .json.gz upload may unpack to, in bytes.
MAX_UNPACKED_BYTES = 1024**3
UPLOAD_SUFFIXES = (".json", ".json.gz")


def upload_limit_mb() -> int:
    return UPLOAD_LIMIT_BYTES // 1024**2


def digest(data: bytes) -> str:
    """Content key of an upload (the same file uploaded twice is analyzed once)."""
    return hashlib.sha1(data).hexdigest()[:16]


def check_upload(name: str, data: bytes) -> None:
    """Raise ProfkitError if `data` cannot be a trace we are willing to parse."""
    if not name.endswith(UPLOAD_SUFFIXES):
        raise ProfkitError(f"{name}: not a trace file; upload a torch.profiler trace ending in .json or .json.gz")
    if len(data) > UPLOAD_LIMIT_BYTES:
        raise ProfkitError(
            f"{name}: {len(data) / 1024**2:.1f} MiB is over the {upload_limit_mb()} MiB upload limit; "
            "analyze it with `profkit analyze` or put it in the traces directory"
        )
    if not data:
        raise ProfkitError(f"{name}: the file is empty")
    if data[:2] == b"\x1f\x8b":
        _check_gzip(name, data)


def _check_gzip(name: str, data: bytes) -> None:
    from profkit.trace.source import TraceTooLarge, unpacked_size

    try:  # the trace reader's own bounded inflate: every gzip member counted, truncation and corruption named
        unpacked_size(io.BytesIO(data), name, MAX_UNPACKED_BYTES)
    except TraceTooLarge:
        raise ProfkitError(f"{name}: unpacks to over {MAX_UNPACKED_BYTES / 1024**3:.0f} GiB; analyze it with `profkit analyze` instead") from None


def analyze_upload(name: str, data: bytes):
    """Validate, parse and analyze uploaded trace bytes: (Trace, TraceAnalysis), as `profkit analyze` computes them."""
    from profkit.analyses.summary import analyze_trace
    from profkit.trace import load_trace

    name = Path(str(name)).name or "upload.json"
    check_upload(name, data)
    with tempfile.TemporaryDirectory(prefix="profkit-upload-") as tmp:
        path = Path(tmp) / ("upload.json.gz" if data[:2] == b"\x1f\x8b" else "upload.json")  # never the browser's name
        path.write_bytes(data)
        try:
            trace = load_trace(path, use_cache=False)
            analysis = analyze_trace(trace)
        except TraceError as exc:
            raise ProfkitError(f"{name}: {exc.problem}") from None
        except ProfkitError as exc:
            raise ProfkitError(f"{name}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 -- a JSON document that is not a usable trace: say so, don't show a traceback
            raise ProfkitError(f"{name}: could not be analyzed as a torch.profiler trace ({type(exc).__name__}: {exc})") from None
    trace.path = analysis.metadata.path = f"upload:{name}"
    analysis.metadata.trace_name = name
    return trace, analysis
