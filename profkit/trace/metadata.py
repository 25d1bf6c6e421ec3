"""Facts a trace's top-level metadata states, read the same way wherever they are shown: CUDA and HIP
versions as text, and the rank of the process that wrote the trace.

Values may be written as ints, floats, decimal or hex strings depending on the Kineto version;
anything else reads as unknown (None).
"""

from __future__ import annotations

import ast


def metadata_int(value) -> int | None:
    """An integer metadata value as any Kineto version writes it; None for other types."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            return None
    return None


def cuda_version_text(value) -> str | None:
    """CUDA encodes versions as 1000*major + 10*minor: 13000 -> '13.0', 12090 -> '12.9'."""
    value = metadata_int(value)
    if value is None or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def hip_version_text(value) -> str | None:
    """HIP encodes versions as 10,000,000*major + 100,000*minor + patch: 70253211 -> '7.2.53211'."""
    value = metadata_int(value)
    if value is None or value <= 0:
        return None
    return f"{value // 10_000_000}.{(value // 100_000) % 100}.{value % 100_000}"


def distributed_info(metadata: dict) -> dict:
    """Kineto's `distributedInfo` (rank, world size, backend); {} when absent. Some Kineto versions
    write it as a Python dict's repr ("{'rank': 3}")."""
    info = metadata.get("distributedInfo")
    if isinstance(info, str):
        try:
            info = ast.literal_eval(info)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            info = None
    return info if isinstance(info, dict) else {}


def trace_rank(metadata: dict) -> int | None:
    """The rank of the process that wrote the trace, None when the trace does not say."""
    return metadata_int(distributed_info(metadata).get("rank"))
