"""Measured ceilings (copy bandwidth, matmul TFLOP/s) from a run-results JSON, to judge a trace
against what its GPU really reaches instead of the datasheet.

The file holds `ceilings` (and `env.gpu`, the GPU they were measured on), as in
traces/samples/h200_run_results.json:
    d2d_copy_GBps_read_plus_write  device-to-device copy, bytes read + written per second (GB/s)
    bf16_matmul_TFLOPs, fp16_matmul_TFLOPs, int8_int_mm_TOPs
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from profkit.errors import ProfkitError

_PEAK_KEYS = {"bf16_matmul_TFLOPs": "bf16", "fp16_matmul_TFLOPs": "fp16", "int8_int_mm_TOPs": "int8", "fp32_matmul_TFLOPs": "fp32", "fp8_matmul_TFLOPs": "fp8"}
_BANDWIDTH_KEY = "d2d_copy_GBps_read_plus_write"


@dataclass(frozen=True)
class Ceilings:
    gpu_name: str | None
    bandwidth_gbps: float | None
    peak_tflops: dict


def read_ceilings(path) -> Ceilings:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise ProfkitError(f"{path}: cannot read ceilings ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ProfkitError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno}); expected a run-results file with 'ceilings'") from None
    raw = doc.get("ceilings") if isinstance(doc, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise ProfkitError(f"{path}: no 'ceilings' object; expected a run-results file such as traces/samples/h200_run_results.json")
    peaks = {dtype: float(raw[key]) for key, dtype in _PEAK_KEYS.items() if isinstance(raw.get(key), (int, float))}
    bandwidth = raw.get(_BANDWIDTH_KEY)
    env = doc.get("env") or doc.get("environment") or {}
    return Ceilings(env.get("gpu") or env.get("gpu_name"), float(bandwidth) if isinstance(bandwidth, (int, float)) else None, peaks)
